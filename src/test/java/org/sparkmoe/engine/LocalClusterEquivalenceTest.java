package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link DistributedStepEquivalenceTest} on a real multi-JVM cluster ({@code local-cluster[2,1,1024]}:
 * two executor JVMs): every task result, broadcast and shuffle block crosses a process boundary
 * through Kryo, so anything that only worked because local[2] shares one heap (a closure capturing
 * driver state, an unregistered class, a mutated broadcast value) shows up here. Two steps of flat
 * and hierarchical gating, 3 data partitions, 2 expert shards, both placements and both routings
 * equal the single-JVM reference trainer within 1e-6 relative (F64), and so does a shuffle-routed step over
 * more data partitions than the driver collects one by one.
 */
class LocalClusterEquivalenceTest {
    private static JavaSparkContext sc;

    @BeforeAll
    static void startCluster() {
        sc = SparkTestContext.localCluster();
        // the tasks really run in two JVMs other than this one
        long driver = ProcessHandle.current().pid();
        List<Long> pids = sc.parallelize(List.of(0, 1, 2, 3, 4, 5, 6, 7), 8)
                .map(i -> ProcessHandle.current().pid()).distinct().collect();
        assertEquals(2, pids.size(), "executor processes " + pids);
        assertFalse(pids.contains(driver), "a task ran in the driver JVM");
    }

    @AfterAll
    static void stopCluster() {
        // the next SparkTestContext.get() would stop it anyway; do it now to free the executor JVMs
        SparkTestContext.stop();
    }

    static Stream<Arguments> configurations() {
        List<Arguments> out = new ArrayList<>();
        for (String gating : new String[]{"flat", "hierarchical"}) {
            for (ExpertPlacement placement : ExpertPlacement.values()) {
                for (RoutingMode routing : RoutingMode.values()) {
                    out.add(Arguments.of(gating, 3, 2, placement, routing));
                }
            }
        }
        // more data partitions than the driver takes one record each from: on a cluster the shuffle-routed
        // step sums them in their reduction-tree groups through a shuffle first (ShufflePipeline)
        out.add(Arguments.of("flat", SparkMoETrainer.DIRECT_SUM_LIMIT + 8, 2, ExpertPlacement.SHARDED, RoutingMode.SHUFFLE));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} gating, {1} partitions, {2} shards, {3}, {4}")
    @MethodSource("configurations")
    void distributedStepsOnTwoExecutorJvmsMatchTheReference(String gating, int partitions, int shards,
                                                            ExpertPlacement placement, RoutingMode routing) {
        assertEquals(SparkTestContext.CLUSTER_EXECUTORS, sc.sc().getExecutorIds().size(), "executor JVMs");
        DistributedStepEquivalenceTest.assertStepsMatchReference(sc, gating, partitions, shards, placement, routing);
    }
}
