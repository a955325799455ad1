package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.checkpoint.CorruptCheckpointException;

import scala.Tuple2;

/**
 * The one writer of the model layout: what it writes reads back bit for bit (parameters and the
 * optimiser state a retrain warm-starts with, float32 through the table's doubles), whether the
 * experts come from the driver or from the executors, and a damaged table is refused as corrupt, naming what is
 * missing.
 */
class ModelDirectoryTest {
    static final NetworkSpec SPEC = NetworkSpec.features(NetworkSpec.Task.CLASSIFICATION, 5, 3, 6, 4, 2, 7, 0.1, 0.1);

    static SparkSession spark() {
        return SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
    }

    /** A state with random parameters and random Adam moments, at step 7. */
    static TrainingState state(MoENetwork net, long seed) {
        ModelParameters p = net.initialise(Precision.F32, seed);
        TrainingState s = TrainingState.fresh(p, new Adam());
        SplittableRandom rnd = new SplittableRandom(seed);
        List<OptimiserState> all = new ArrayList<>(List.of(s.expertOptimisers()));
        all.add(s.sharedOptimiser());
        for (OptimiserState o : all) for (OptimiserState.Slot slot : o.slots()) slot.values().fill(() -> rnd.nextDouble(-1, 1));
        return new TrainingState(p, s.sharedOptimiser(), s.expertOptimisers(), 7);
    }

    static double[] flat(Parameters p) {
        double[] v = new double[(int) p.layout().size()];
        for (int i = 0; i < v.length; i++) v[i] = p.flat().get(0, i);
        return v;
    }

    static void assertSame(Parameters a, Parameters b, String what) {
        assertEquals(a.layout(), b.layout(), what);
        assertEquals(a.precision(), b.precision(), what);
        assertArrayEquals(flat(a), flat(b), what);
    }

    @Test
    void parametersAndOptimiserStateReadBackExactly(@TempDir Path tmp) throws Exception {
        SparkSession spark = spark();
        MoENetwork net = SPEC.build();
        TrainingState s = state(net, 3);
        ModelDirectory.Spec spec = new ModelDirectory.Spec(SPEC, Map.of("data", "test"), Map.of("createdBy", "ModelDirectoryTest"));
        Path dir = tmp.resolve("m");
        ModelDirectory.write(new org.apache.hadoop.fs.Path(dir.toString()), spec, s, null, spark);

        ModelDirectory.Saved saved = ModelDirectory.open(dir.toString(), spark).orElseThrow();
        assertEquals(ModelDirectory.Layout.V2, saved.layout());
        assertEquals(spec, saved.spec());
        assertEquals(List.of("m", "v"), saved.optimiserSlots());
        TrainingState back = saved.readState(spark);
        assertEquals(7, back.step());
        assertSame(s.params().shared(), back.params().shared(), "shared parameters");
        for (String slot : saved.optimiserSlots()) {
            assertSame(s.sharedOptimiser().slot(slot), back.sharedOptimiser().slot(slot), "shared " + slot);
        }
        for (int e = 0; e < net.numExperts(); e++) {
            assertSame(s.params().experts()[e], back.params().experts()[e], "expert " + e);
            for (String slot : saved.optimiserSlots()) {
                assertSame(s.expertOptimisers()[e].slot(slot), back.expertOptimisers()[e].slot(slot), "expert " + e + " " + slot);
            }
        }

        // an optimiser table that lost a file is refused, naming what is missing
        try (var files = Files.list(dir.resolve(ModelDirectory.OPTIMISER))) {
            Path part = files.filter(f -> f.getFileName().toString().endsWith(".parquet")).sorted().toList().get(0);
            Files.delete(part);
            Files.deleteIfExists(part.resolveSibling("." + part.getFileName() + ".crc"));
        }
        CorruptCheckpointException bad = assertThrows(CorruptCheckpointException.class, () -> saved.readState(spark));
        assertTrue(bad.getMessage().contains("optimiser table holds") && bad.getMessage().contains(ModelDirectory.OPTIMISER),
                bad.getMessage());
    }

    @Test
    void expertsWrittenByTheExecutorsReadAsThoseWrittenByTheDriver(@TempDir Path tmp) throws Exception {
        SparkSession spark = spark();
        MoENetwork net = SPEC.build();
        ModelParameters p = net.initialise(Precision.F32, 11);
        List<Tuple2<Integer, Parameters>> pairs = new ArrayList<>();
        for (int e = 0; e < p.experts().length; e++) pairs.add(new Tuple2<>(e, p.experts()[e]));
        JavaPairRDD<Integer, Parameters> rdd = SparkTestContext.get().parallelizePairs(pairs, 2);
        ModelDirectory.Spec spec = new ModelDirectory.Spec(SPEC, Map.of(), Map.of());
        Path dir = tmp.resolve("d");
        ModelDirectory.write(new org.apache.hadoop.fs.Path(dir.toString()), spec, p.shared(), ParameterTable.distributedExperts(rdd), null,
                null, spark);
        ModelDirectory.Saved saved = ModelDirectory.open(dir.toString(), spark).orElseThrow();
        assertTrue(saved.optimiserSlots().isEmpty());
        TrainingState back = saved.readState(spark);
        assertEquals(0, back.step(), "no optimiser state: a fresh one at step 0");
        assertSame(p.shared(), back.params().shared(), "shared");
        for (int e = 0; e < p.experts().length; e++) assertSame(p.experts()[e], back.params().experts()[e], "expert " + e);
    }

    @Test
    void nonFiniteParametersAreRefusedNamingTheTableAndTensor(@TempDir Path tmp) throws Exception {
        SparkSession spark = spark();
        MoENetwork net = SPEC.build();
        TrainingState s = state(net, 5);
        s.params().experts()[1].flat().set(0, 3, Double.NaN);
        ModelDirectory.Spec spec = new ModelDirectory.Spec(SPEC, Map.of(), Map.of());
        Path dir = tmp.resolve("nan");
        ModelDirectory.write(new org.apache.hadoop.fs.Path(dir.toString()), spec, s, null, spark);
        ModelDirectory.Saved saved = ModelDirectory.open(dir.toString(), spark).orElseThrow();
        CorruptCheckpointException bad = assertThrows(CorruptCheckpointException.class, () -> saved.readParameters(spark));
        assertTrue(bad.getMessage().contains(ModelDirectory.PARAMETERS) && bad.getMessage().contains("of expert 1")
                && bad.getMessage().contains("non-finite value (NaN)"), bad.getMessage());
    }
}
