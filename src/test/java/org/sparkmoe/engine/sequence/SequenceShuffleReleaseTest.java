package org.sparkmoe.engine.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.engine.ShuffleReleaseTest.checkpoints;
import static org.sparkmoe.engine.ShuffleReleaseTest.assertNothingLeft;
import static org.sparkmoe.engine.ShuffleReleaseTest.checkpointsSince;
import static org.sparkmoe.engine.ShuffleReleaseTest.onDisk;
import static org.sparkmoe.engine.ShuffleReleaseTest.registered;

import java.util.Set;
import java.util.stream.Stream;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.SparkTestContext;

/**
 * The recurrent model's trainer releases its shuffles as {@code SparkMoETrainer} does
 * ({@link org.sparkmoe.engine.ShuffleRelease}): after every step the registered shuffles (and the
 * only shuffle files on disk) are the documents' and those the experts' kept lineage reaches (the
 * three of each step since the last lineage cut with SHARDED experts, none with the experts on the
 * driver or without an MoE), and none once the trainer is closed; of the expert state's reliable
 * checkpoints only the current root's files stay.
 */
class SequenceShuffleReleaseTest {
    private static final int INTERVAL = 3;
    /** A SHARDED step's shuffles the next state reaches: dispatch, combine, backward dispatch (not the backward combine). */
    private static final int PER_STEP = 3;

    static Stream<Arguments> configurations() {
        return Stream.of(Arguments.of("flat", ExpertPlacement.SHARDED, RoutingMode.SHUFFLE),
                Arguments.of("flat", ExpertPlacement.DRIVER, RoutingMode.SHUFFLE),
                Arguments.of("flat", ExpertPlacement.DRIVER, RoutingMode.LOCAL),
                Arguments.of("lstm", ExpertPlacement.DRIVER, RoutingMode.SHUFFLE));
    }

    @ParameterizedTest(name = "{0}, {1}, {2}")
    @MethodSource("configurations")
    void shufflesStayWithinTheLineageWindow(String kind, ExpertPlacement placement, RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        EngineConfig ec = new EngineConfig(routing, placement, 2, 1, SparkSequenceEquivalenceTest.trainer(Precision.F32), INTERVAL, false);
        SequenceLayout layout = new SequenceLayout(SparkSequenceEquivalenceTest.S, SparkSequenceEquivalenceTest.T,
                SparkSequenceEquivalenceTest.END, 0, SparkSequenceEquivalenceTest.DOCUMENTS, 3);
        int first = sc.sc().newShuffleId() + 1; // every shuffle from here on is the trainer's
        Set<String> earlierCheckpoints = checkpoints(sc);
        SparkSequenceTrainer trainer = new SparkSequenceTrainer(sc, SparkSequenceEquivalenceTest.model(kind), ec,
                SparkSequenceEquivalenceTest.documents(sc, SparkSequenceEquivalenceTest.DOCUMENTS), layout);
        try {
            Set<Integer> documents = trainer.heldShuffles();
            assertEquals(1, documents.size(), "the documents' shuffle by stream");
            boolean sharded = placement == ExpertPlacement.SHARDED;
            for (int s = 1; s <= 3 * INTERVAL + 1; s++) {
                trainer.trainStep();
                Set<Integer> held = trainer.heldShuffles();
                String at = "after step " + s;
                assertEquals(held, registered(first), at + ": registered shuffles other than the held ones");
                assertTrue(held.containsAll(onDisk(first)), at + ": files of released shuffles " + onDisk(first) + ", held " + held);
                assertTrue(held.containsAll(documents), at + ": the documents' shuffle was released");
                int lineage = sharded ? PER_STEP * (s % INTERVAL) : 0;
                assertEquals(documents.size() + lineage, held.size(), at + ": shuffles held " + held);
                Set<String> roots = checkpointsSince(sc, earlierCheckpoints);
                assertTrue(roots.size() <= (s < INTERVAL ? 0 : 1), at + ": the checkpoint files of more than the current root: " + roots);
            }
        } finally {
            trainer.close();
        }
        assertNothingLeft(sc, first, earlierCheckpoints);
    }

    /**
     * A step that throws (its stream reaches a document the RDD lacks, after some steps that worked)
     * releases the shuffles it made; the kept lineage's stay, and go on close.
     */
    @ParameterizedTest(name = "{0}, {1}, {2}")
    @MethodSource("configurations")
    void aFailedStepReleasesItsShuffles(String kind, ExpertPlacement placement, RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        EngineConfig ec = new EngineConfig(routing, placement, 2, 1, SparkSequenceEquivalenceTest.trainer(Precision.F32), 100, false);
        int count = SparkSequenceEquivalenceTest.DOCUMENTS;
        SequenceLayout layout = new SequenceLayout(SparkSequenceEquivalenceTest.S, SparkSequenceEquivalenceTest.T,
                SparkSequenceEquivalenceTest.END, 0, count, 3);
        int first = sc.sc().newShuffleId() + 1;
        SparkSequenceTrainer trainer = new SparkSequenceTrainer(sc, SparkSequenceEquivalenceTest.model(kind), ec,
                SparkSequenceEquivalenceTest.documents(sc, 0, count - 1, 2), layout); // the last document is missing
        try {
            Set<Integer> before = trainer.heldShuffles();
            int worked = 0;
            while (true) {
                try {
                    trainer.trainStep();
                } catch (Exception e) { // Spark's SparkException: checked in Java, undeclared
                    assertTrue(String.valueOf(e.getMessage()).contains("is not in data partition"), e.toString());
                    break;
                }
                before = trainer.heldShuffles();
                assertTrue(++worked < 50, "no step reached the missing document");
            }
            assertTrue(worked > 0, "the first step failed");
            assertEquals(before, trainer.heldShuffles(), "after the failed step " + (worked + 1));
            assertEquals(before, registered(first), "registered shuffles after the failed step " + (worked + 1));
            assertTrue(before.containsAll(onDisk(first)), "files of released shuffles " + onDisk(first) + ", held " + before);
        } finally {
            trainer.close();
        }
        assertEquals(Set.of(), registered(first), "registered shuffles of a closed trainer");
        assertEquals(Set.of(), onDisk(first), "shuffle files of a closed trainer");
    }
}
