package org.sparkmoe.engine.serde;

import org.sparkmoe.core.network.RowBlock;
import com.esotericsoftware.kryo.Kryo;

import org.apache.spark.serializer.KryoRegistrator;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;

/**
 * Registers spark-moe's wire types with Kryo, with the serializers of {@link MoESerializers},
 * plus the array and JDK types that travel with them, so that jobs run with
 * {@code spark.kryo.registrationRequired=true}. Enable with
 * {@code spark.kryo.registrator=org.sparkmoe.engine.serde.MoEKryoRegistrator}.
 *
 * <p>The format is versioned: every serializer writes a leading format-version byte and refuses
 * to read a version it does not know, with a message naming both versions. Kryo class ids follow
 * registration order, so driver and executors must run the same build; only append here.
 */
public final class MoEKryoRegistrator implements KryoRegistrator {

    @Override
    public void registerClasses(Kryo kryo) {
        register(kryo);
    }

    /** Registers everything on a plain Kryo instance (for use outside Spark). */
    public static void register(Kryo kryo) {
        kryo.register(FloatMatrix.class, new MoESerializers.FloatMatrixSerializer());
        kryo.register(DoubleMatrix.class, new MoESerializers.DoubleMatrixSerializer());
        kryo.register(ParameterLayout.class, new MoESerializers.ParameterLayoutSerializer());
        kryo.register(Parameters.class, new MoESerializers.ParametersSerializer());
        kryo.register(OptimiserState.class, new MoESerializers.OptimiserStateSerializer());
        kryo.register(ModelParameters.class, new MoESerializers.ModelParametersSerializer());
        kryo.register(TrainingState.class, new MoESerializers.TrainingStateSerializer());
        kryo.register(BalanceWeights.class, new MoESerializers.BalanceWeightsSerializer());
        kryo.register(BalanceResult.class, new MoESerializers.BalanceResultSerializer());
        kryo.register(Precision.class); // Kryo's default enum serializer (ordinal)

        // Arrays of our types (collect() from Java returns Object[]) and the primitive arrays that
        // carry statistics; Spark registers some of these too, registering again is harmless.
        Class<?>[] arrays = {
            Object[].class, String[].class,
            float[].class, double[].class, int[].class, long[].class, byte[].class, boolean[].class,
            float[][].class, double[][].class, int[][].class,
            Matrix[].class, FloatMatrix[].class, DoubleMatrix[].class,
            ParameterLayout[].class, Parameters[].class, Parameters[][].class, OptimiserState[].class,
            ModelParameters[].class, TrainingState[].class, BalanceWeights[].class, BalanceResult[].class,
        };
        for (Class<?> c : arrays) kryo.register(c);

        // the engine's wire types (appended: registration order is the class id)
        kryo.register(org.sparkmoe.core.network.RowBlock.class, new org.sparkmoe.engine.EngineSerializers.RowBlockSerializer());
        kryo.register(org.sparkmoe.engine.ShuffleBlock.class, new org.sparkmoe.engine.EngineSerializers.ShuffleBlockSerializer());
        kryo.register(org.sparkmoe.engine.PartitionResult.class, new org.sparkmoe.engine.EngineSerializers.PartitionResultSerializer());
        kryo.register(org.sparkmoe.engine.ExpertGrads.class, new org.sparkmoe.engine.EngineSerializers.ExpertGradsSerializer());
        kryo.register(org.sparkmoe.engine.ExpertShard.class, new org.sparkmoe.engine.EngineSerializers.ExpertShardSerializer());
        kryo.register(org.sparkmoe.core.network.RowBlock[].class);
        kryo.register(org.sparkmoe.engine.ShuffleBlock[].class);
        kryo.register(org.sparkmoe.engine.PartitionResult[].class);
        kryo.register(org.sparkmoe.engine.ExpertGrads[].class);
        kryo.register(org.sparkmoe.engine.ExpertShard[].class);
        // written with a reliably checkpointed expert table (its partitioner is saved beside it)
        kryo.register(org.sparkmoe.engine.ExpertPartitioner.class);
        org.sparkmoe.engine.EngineSerializers.registerStepState(kryo);
        registerSparkSql(kryo);
        org.sparkmoe.engine.sequence.SequenceSerializers.register(kryo);
        org.sparkmoe.engine.SingleWriteShuffle.register(kryo);
    }

    /** The resource listing Spark SQL / MLlib classes to register (see the file's header). */
    static final String SPARK_SQL_CLASSES = "spark-sql-kryo-classes.txt";

    /**
     * Registers the Spark SQL and MLlib classes listed in {@value #SPARK_SQL_CLASSES}, so that
     * DataFrame work in the same application runs under {@code registrationRequired}; classes that
     * are not on the classpath are skipped.
     */
    static void registerSparkSql(Kryo kryo) {
        java.io.InputStream in = MoEKryoRegistrator.class.getResourceAsStream(SPARK_SQL_CLASSES);
        if (in == null) {
            throw new IllegalStateException("resource " + SPARK_SQL_CLASSES + " is missing from the spark-moe jar");
        }
        ClassLoader loader = Thread.currentThread().getContextClassLoader() != null
                ? Thread.currentThread().getContextClassLoader() : MoEKryoRegistrator.class.getClassLoader();
        try (java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(in, java.nio.charset.StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                line = line.trim();
                if (line.isEmpty() || line.startsWith("#")) continue;
                try {
                    int dims = 0;
                    while (line.endsWith("[]")) {
                        line = line.substring(0, line.length() - 2);
                        dims++;
                    }
                    Class<?> c = Class.forName(line, false, loader);
                    for (int d = 0; d < dims; d++) c = java.lang.reflect.Array.newInstance(c, 0).getClass();
                    kryo.register(c);
                } catch (ClassNotFoundException | LinkageError e) {
                    // not on this classpath (e.g. no MLlib): nothing of that class can travel either
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + SPARK_SQL_CLASSES, e);
        }
    }
}
