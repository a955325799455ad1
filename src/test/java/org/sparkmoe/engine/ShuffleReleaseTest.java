package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.apache.spark.MapOutputTrackerMaster;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.HashPartitioner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;

import scala.Tuple2;

/**
 * A trainer's shuffles are released deterministically ({@link ShuffleRelease}), not when a driver GC
 * lets Spark's ContextCleaner find them: after every step the shuffles still registered (and the only
 * shuffle files on disk) are those the kept expert-state lineage reaches, at most the steps since the
 * last lineage cut, none right after a cut or with the experts on the driver, and none once the trainer is closed;
 * of the expert state's reliable checkpoints only the current root's files stay.
 */
public class ShuffleReleaseTest {
    private static final int INTERVAL = 3;
    /**
     * The most shuffles of one step the expert state's lineage reaches: dispatch, combine, backward
     * dispatch (the backward combine only feeds the aggregation and goes with the step); local routing: two.
     */
    private static final int PER_STEP = 3;

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("org.sparkmoe.engine.DistributedStepEquivalenceTest#placementsAndRoutings")
    void shufflesStayWithinTheLineageWindow(ExpertPlacement placement, RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, Precision.F32);
        EngineConfig ec = new EngineConfig(routing, placement, 2, 24, tc, INTERVAL, false);
        int first = sc.sc().newShuffleId() + 1; // every shuffle from here on is the trainer's
        Set<String> earlierCheckpoints = checkpoints(sc);
        SparkMoETrainer engine = new SparkMoETrainer(sc, DistributedStepEquivalenceTest.regressionNetwork(), ec,
                sc.parallelize(DistributedStepEquivalenceTest.regressionBlocks(3), 3));
        try {
            for (int s = 1; s <= 3 * INTERVAL + 1; s++) {
                engine.trainStep();
                Set<Integer> held = engine.heldShuffles();
                String at = "after step " + s;
                assertEquals(held, registered(first), at + ": registered shuffles other than the held ones");
                assertTrue(held.containsAll(onDisk(first)), at + ": files of released shuffles " + onDisk(first) + ", held " + held);
                Set<String> roots = checkpointsSince(sc, earlierCheckpoints);
                assertTrue(roots.size() <= (s < INTERVAL ? 0 : 1), at + ": the checkpoint files of more than the current root: " + roots);
                int sinceCut = s % INTERVAL;
                if (placement == ExpertPlacement.DRIVER || sinceCut == 0) {
                    assertEquals(Set.of(), held, at + ": nothing of the step is in a kept lineage");
                } else {
                    assertTrue(held.size() <= PER_STEP * sinceCut, at + ": " + held.size() + " shuffles held, "
                            + sinceCut + " steps since the cut");
                }
            }
        } finally {
            engine.close();
        }
        assertNothingLeft(sc, first, earlierCheckpoints);
    }

    /** Without the context's cleaner ({@code spark.cleaner.referenceTracking=false}) the release does what it does. */
    @Test
    void releasesWithoutTheCleaner() {
        JavaSparkContext sc = SparkTestContext.get();
        ShuffleRelease release = new ShuffleRelease(sc.sc(), false);
        JavaPairRDD<Integer, Integer> shuffled = sc.parallelize(List.of(1, 2, 3, 4, 5, 6), 3)
                .mapToPair(i -> new Tuple2<>(i, i)).partitionBy(new HashPartitioner(2));
        shuffled.count();
        release.track(List.of(shuffled.rdd().toJavaRDD()));
        Set<Integer> held = release.held();
        assertEquals(1, held.size());
        int id = held.iterator().next();
        assertTrue(tracker().containsShuffle(id));
        assertFalse(onDisk(id).isEmpty(), "the shuffle wrote files");
        assertEquals(0, release.retainOnly(List.of(shuffled.rdd().toJavaRDD())), "a reachable shuffle stays");
        assertEquals(1, release.releaseAll());
        assertFalse(tracker().containsShuffle(id));
        assertEquals(Set.of(), onDisk(id));
    }

    /** The RDD checkpoints in the context's checkpoint directory (the test context has one). */
    public static Set<String> checkpoints(JavaSparkContext sc) {
        Set<String> out = new TreeSet<>();
        File[] dirs = new File(java.net.URI.create(sc.getCheckpointDir().get())).listFiles();
        if (dirs != null) for (File f : dirs) if (f.getName().startsWith("rdd-")) out.add(f.getName());
        return out;
    }

    /** The RDD checkpoints in the context's checkpoint directory that are not among {@code earlier}. */
    public static Set<String> checkpointsSince(JavaSparkContext sc, Set<String> earlier) {
        Set<String> out = checkpoints(sc);
        out.removeAll(earlier);
        return out;
    }

    /** A closed trainer left no registered shuffle, shuffle file or checkpoint (ids from {@code first}, checkpoints not in {@code earlier}). */
    public static void assertNothingLeft(JavaSparkContext sc, int first, Set<String> earlier) {
        assertEquals(Set.of(), registered(first), "registered shuffles of a closed trainer");
        assertEquals(Set.of(), onDisk(first), "shuffle files of a closed trainer");
        assertEquals(Set.of(), checkpointsSince(sc, earlier), "checkpoint files of a closed trainer");
    }

    private static MapOutputTrackerMaster tracker() {
        return (MapOutputTrackerMaster) SparkEnv.get().mapOutputTracker();
    }

    /** The shuffles with ids from {@code first} on that the driver's map output tracker knows. */
    public static Set<Integer> registered(int first) {
        Set<Integer> out = new TreeSet<>();
        scala.collection.Iterator<Object> ids = tracker().shuffleStatuses().keysIterator();
        while (ids.hasNext()) {
            int id = (Integer) ids.next();
            if (id >= first) out.add(id);
        }
        return out;
    }

    /** The shuffles with ids from {@code first} on that have files in the (local mode: only) block manager's directories. */
    public static Set<Integer> onDisk(int first) {
        Set<Integer> out = new TreeSet<>();
        scala.collection.Iterator<File> files = SparkEnv.get().blockManager().diskBlockManager().getAllFiles().iterator();
        while (files.hasNext()) {
            String name = files.next().getName();
            if (!name.startsWith("shuffle_")) continue;
            int id = Integer.parseInt(name.split("_")[1]);
            if (id >= first) out.add(id);
        }
        return out;
    }
}
