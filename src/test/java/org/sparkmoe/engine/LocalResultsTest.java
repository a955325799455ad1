package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The local master's handoffs: task results reach the driver by reference, in partition order, and
 * a job leaves nothing in the table whether it succeeded or failed; the sharded placement's step
 * handoff holds the step's values while the driver updates the shared group in place.
 */
class LocalResultsTest {
    /** The objects the tasks built, by partition (the tasks run in this JVM). */
    private static final Map<Integer, Object> BUILT = new ConcurrentHashMap<>();

    @Test
    void collectHandsTheTasksObjectsOverInPartitionOrder() {
        JavaSparkContext sc = SparkTestContext.get();
        BUILT.clear();
        JavaRDD<int[]> rdd = sc.parallelize(Arrays.asList(0, 1, 2, 3, 4), 3).mapPartitionsWithIndex((p, it) -> {
            int[] values = it.hasNext() ? new int[]{p, it.next()} : new int[]{p};
            BUILT.put(p, values);
            return java.util.Collections.singletonList(values).iterator();
        }, true);
        List<int[]> got = SparkMoETrainer.collect(rdd);
        assertEquals(3, got.size());
        for (int p = 0; p < 3; p++) {
            assertSame(BUILT.get(p), got.get(p), "partition " + p + "'s result is the task's object, not a copy");
            assertEquals(p, got.get(p)[0]);
        }
        assertEquals(0, LocalResults.openJobs());
    }

    @Test
    void aFailedJobLeavesNoResultsBehind() {
        JavaSparkContext sc = SparkTestContext.get();
        // partition 0 finishes (its result kept in the table) before partition 1 fails the job
        JavaRDD<Integer> rdd = sc.parallelize(Arrays.asList(0, 1), 2).map(x -> {
            if (x == 1) {
                Thread.sleep(200);
                throw new IllegalStateException("injected failure");
            }
            return x;
        });
        assertThrows(Exception.class, () -> SparkMoETrainer.collect(rdd));
        assertEquals(0, LocalResults.openJobs());
        assertThrows(IllegalStateException.class, () -> LocalResults.put(-1, 0, new Object[0]), "a closed job keeps nothing");
    }

    @Test
    void theShardedStepHandoffHoldsTheStepsValues() {
        JavaSparkContext sc = SparkTestContext.get();
        ParameterLayout layout = ParameterLayout.builder().add("w", 3, 4).build();
        Parameters shared = layout.allocate(Precision.F32);
        shared.flat().fill(1);
        // a long session: earlier trainers' copies of other layouts fill the spare copies first
        for (int i = 0; i < 20; i++) {
            Parameters other = ParameterLayout.builder().add("other" + i, 2, 2).build().allocate(Precision.F32);
            StepBroadcast.ofShared(sc, other).destroy();
        }
        Broadcast<Parameters[]> step1 = StepBroadcast.ofShared(sc, shared);
        shared.flat().fill(2); // the driver's update, in place
        assertNotSame(shared, step1.value()[0]);
        assertEquals(1.0, step1.value()[0].flat().get(0, 0));
        assertEquals(1.0, sc.parallelize(Arrays.asList(0), 1).map(x -> step1.value()[0].flat().get(0, 0)).collect().get(0));
        Parameters copy1 = step1.value()[0];
        step1.destroy();
        assertThrows(Exception.class, step1::value);
        // the next step's handoff reuses the destroyed one's copy, with the new values
        Broadcast<Parameters[]> step2 = StepBroadcast.ofShared(sc, shared);
        assertSame(copy1, step2.value()[0]);
        assertEquals(2.0, step2.value()[0].flat().get(0, 0));
        step2.destroy();
    }
}
