package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel;
import org.apache.spark.ml.classification.MultilayerPerceptronClassifier;
import org.apache.spark.ml.evaluation.BinaryClassificationEvaluator;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.evaluation.RegressionEvaluator;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.serde.SerializerAdvice;

/**
 * spark-moe works in any session, next to MLlib: under Spark's Java serializer (the default of a plain
 * session), under Kryo with our registrator (the shipped conf/spark-defaults.conf), and under Kryo with
 * {@code spark.kryo.registrationRequired=true} (what the rest of the suite runs). In each, a small
 * {@link MoEClassifier} is fitted (driver and sharded expert placement, with a checkpoint), saved and
 * loaded, and evaluated with MLlib's evaluators next to an MLlib MLP (fitted, saved, loaded) on the same
 * data. Kryo without our registrator is refused before training, naming the setting to add.
 * <p>
 * Each setting needs its own SparkContext (the serializer is fixed at start): the shared test context
 * is stopped first and recreated by the next test that asks for it.
 */
class SerializerSettingsTest {
    static final StructType SCHEMA = new StructType().add("features", new VectorUDT(), false).add("label", DataTypes.DoubleType, false);

    @AfterAll
    static void restore() {
        SparkSession.clearActiveSession();
        SparkSession.clearDefaultSession();
    }

    @Test
    void javaSerializer(@TempDir Path tmp) throws IOException {
        SparkConf conf = base().set("spark.serializer", "org.apache.spark.serializer.JavaSerializer");
        assertTrue(SerializerAdvice.warning(conf).orElseThrow().contains("Kryo is faster"));
        fitAndEvaluate(conf, tmp);
    }

    @Test
    void kryoAsShipped(@TempDir Path tmp) throws IOException {
        SparkConf conf = base();
        for (String[] kv : shippedDefaults()) conf.set(kv[0], kv[1]);
        assertEquals("org.apache.spark.serializer.KryoSerializer", conf.get("spark.serializer"));
        assertFalse(SerializerAdvice.warning(conf).isPresent());
        fitAndEvaluate(conf, tmp);
    }

    /** The key/value pairs of conf/spark-defaults.conf (what jobs/moe-submit.sh passes as --conf). */
    static List<String[]> shippedDefaults() throws IOException {
        List<String[]> out = new ArrayList<>();
        for (String line : java.nio.file.Files.readAllLines(Path.of("conf/spark-defaults.conf"))) {
            line = line.trim();
            if (line.isEmpty() || line.startsWith("#")) continue;
            out.add(line.split("\\s+", 2));
        }
        return out;
    }

    @Test
    void kryoWithRegistrationRequired(@TempDir Path tmp) throws IOException {
        SparkConf conf = SparkTestContext.conf("local[2]").set("spark.kryo.referenceTracking", "false");
        assertEquals("true", conf.get("spark.kryo.registrationRequired"));
        fitAndEvaluate(conf, tmp);
    }

    @Test
    void kryoWithoutOurRegistratorIsRefusedWithTheFix() {
        SparkConf conf = base().set("spark.serializer", "org.apache.spark.serializer.KryoSerializer");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> inSession(conf, spark -> {
            classifier().setMaxSteps(1).fit(data(spark, 100, 1));
        }));
        assertTrue(e.getMessage().contains("spark.kryo.registrator") && e.getMessage().contains("MoEKryoRegistrator"), e.getMessage());
    }

    static SparkConf base() {
        return new SparkConf().setMaster("local[2]").setAppName("spark-moe-serializer-test")
                .set("spark.ui.enabled", "false")
                .set("spark.sql.shuffle.partitions", "4")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1");
    }

    interface SessionWork {
        void run(SparkSession spark) throws IOException;
    }

    /** Runs {@code work} in a session of its own with {@code conf}, stopping the shared test context first. */
    static void inSession(SparkConf conf, SessionWork work) throws IOException {
        SparkTestContext.stop();
        SparkSession.clearActiveSession();
        SparkSession.clearDefaultSession();
        JavaSparkContext sc = new JavaSparkContext(conf);
        try {
            sc.setLogLevel("WARN");
            work.run(SparkSession.builder().sparkContext(sc.sc()).getOrCreate());
        } finally {
            sc.stop();
            SparkSession.clearActiveSession();
            SparkSession.clearDefaultSession();
        }
    }

    static void fitAndEvaluate(SparkConf conf, Path tmp) throws IOException {
        inSession(conf, spark -> {
            Dataset<Row> train = data(spark, 800, 1).cache();
            Dataset<Row> test = data(spark, 400, 2).cache();

            MoEClassificationModel model = classifier().fit(train);
            // sharded placement: expert shards live in a cached RDD and are checkpointed through the serializer
            MoEClassificationModel sharded = classifier().setPlacement("sharded").setExpertShards(2).setMaxSteps(2)
                    .setCheckpointDir(tmp.resolve("ckpt").toString()).setCheckpointInterval(1).fit(train);
            assertEquals(4, sharded.spec().numExperts());

            String path = tmp.resolve("model").toString();
            model.write().save(path);
            MoEClassificationModel loaded = MoEClassificationModel.load(path);
            Dataset<Row> scored = loaded.transform(test);
            assertArrayEquals(probabilities(model.transform(test)), probabilities(scored), 1e-6);

            MultilayerPerceptronClassificationModel mlp = new MultilayerPerceptronClassifier()
                    .setLayers(new int[] {4, 8, 2}).setMaxIter(10).setSeed(3L).fit(train);
            Dataset<Row> mlpScored = mlp.transform(test);

            BinaryClassificationEvaluator auc = new BinaryClassificationEvaluator().setMetricName("areaUnderROC");
            MulticlassClassificationEvaluator acc = new MulticlassClassificationEvaluator().setMetricName("accuracy");
            double moeAuc = auc.evaluate(scored);
            double moeAcc = acc.evaluate(scored);
            double mlpAuc = auc.evaluate(mlpScored);
            double mlpF1 = acc.setMetricName("f1").evaluate(mlpScored);
            double moePr = auc.setMetricName("areaUnderPR").evaluate(scored);
            double moeLogLoss = acc.setMetricName("logLoss").evaluate(scored);
            double moeRmse = new RegressionEvaluator().setMetricName("rmse").evaluate(scored);
            assertTrue(moePr > 0.8 && moeLogLoss < 0.6 && moeRmse < 0.5, "MoE PR " + moePr + ", log loss " + moeLogLoss + ", rmse " + moeRmse);
            assertTrue(moeAuc > 0.8, "MoE AUC " + moeAuc);
            assertTrue(moeAcc > 0.7, "MoE accuracy " + moeAcc);
            assertTrue(mlpAuc > 0.5 && mlpF1 > 0.4, "MLP AUC " + mlpAuc + ", F1 " + mlpF1);

            String mlpPath = tmp.resolve("mlp").toString();
            mlp.write().save(mlpPath);
            assertArrayEquals(probabilities(mlpScored), probabilities(MultilayerPerceptronClassificationModel.load(mlpPath).transform(test)), 1e-9);
        });
    }

    static MoEClassifier classifier() {
        return new MoEClassifier().setNumExperts(4).setK(2).setModelDim(8).setExpertHiddenSize(8)
                .setBatchSize(128).setMaxSteps(12).setStepSize(0.05).setSeed(3);
    }

    /** Four features; label 1 when x0 > 0 ? x1 > 0 : x2 > 0 (a rule that differs by regime). */
    static Dataset<Row> data(SparkSession spark, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Row> rows = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            double[] x = new double[4];
            for (int j = 0; j < 4; j++) x[j] = rnd.nextDouble(-1, 1);
            double y = (x[0] > 0 ? x[1] > 0 : x[2] > 0) ? 1 : 0;
            rows.add(RowFactory.create(Vectors.dense(x), y));
        }
        return spark.createDataFrame(rows, SCHEMA).repartition(2);
    }

    static double[] probabilities(Dataset<Row> scored) {
        return scored.select("probability").collectAsList().stream()
                .mapToDouble(r -> ((org.apache.spark.ml.linalg.Vector) r.get(0)).apply(1)).toArray();
    }
}
