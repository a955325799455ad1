package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;

/**
 * An executor JVM dies in the middle of a training step, and training goes on to the same result.
 * <p>
 * On {@code local-cluster[2,1,1024]} a 6-step run (SHUFFLE routing, 3 data partitions, 2 expert
 * shards, F64) is made twice: undisturbed, and with one executor process killed with SIGKILL
 * ({@link ProcessHandle#destroyForcibly()}) when step 3's combine stage is submitted (a step is one
 * job whose stages are chained by shuffles). That loses the
 * executor's cached data and step-state blocks, its shuffle outputs (dispatch) and, for SHARDED
 * placement, its expert-state partition; Spark sees fetch failures, recomputes from lineage (or the
 * last checkpoint) on the surviving executor and the Worker starts a replacement executor. The
 * engine is deterministic (counter-based noise, fixed-order reductions), so the disturbed run's
 * parameters must equal the undisturbed run's: asserted to 1e-12 relative, and the number of
 * elements that are not bit-identical is reported. The same with LOCAL routing and driver-held
 * experts, whose step tasks each run a group of data partitions ({@link ReductionTree}), killed when
 * the groups' forward and backward stage is submitted.
 * <p>
 * Why not {@code SparkContext.killExecutor(id)}: that is a polite request through the cluster
 * manager which also lowers the target executor count (so no replacement is started) and makes
 * the scheduler treat the loss as intended; a crash is an unannounced process death, which is what
 * SIGKILL of the CoarseGrainedExecutorBackend child process of this JVM gives.
 */
class ExecutorFailureTest {
    private static final int STEPS = 6;
    private static final int KILL_STEP = 3;
    private static JavaSparkContext sc;

    @BeforeAll
    static void startCluster() {
        sc = SparkTestContext.localCluster();
    }

    @AfterAll
    static void stopCluster() {
        // an executor was replaced: give later tests a fresh context
        SparkTestContext.stop();
    }

    @ParameterizedTest(name = "{0} placement")
    @EnumSource(ExpertPlacement.class)
    void trainingSurvivesAnExecutorKilledMidStep(ExpertPlacement placement) throws Exception {
        survivesAnExecutorKilledMidStep(RoutingMode.SHUFFLE, placement, "spark-moe combine");
    }

    /**
     * Local routing with the experts on the driver: the step's tasks each run a group of data
     * partitions (3 partitions, 2 groups); the executor dies when the groups' forward and backward
     * stage is submitted. With both executors up that is the step's one barrier stage
     * (LocalPipeline.fused), which Spark does not retry: the job fails and the engine runs the step
     * again in two stages, which recompute the lost data block from its lineage.
     */
    @Test
    void localStepSurvivesAnExecutorKilledMidStep() throws Exception {
        survivesAnExecutorKilledMidStep(RoutingMode.LOCAL, ExpertPlacement.DRIVER, LocalPipeline.GROUPS_STAGE);
    }

    private void survivesAnExecutorKilledMidStep(RoutingMode routing, ExpertPlacement placement, String killStage) throws Exception {
        SparkTestContext.awaitExecutors(SparkTestContext.CLUSTER_EXECUTORS, 120_000);
        Run undisturbed = train(routing, placement, false);

        Failures failures = new Failures(sc, killStage, "spark-moe step " + KILL_STEP, ARMED);
        sc.sc().addSparkListener(failures);
        Run disturbed;
        try {
            disturbed = train(routing, placement, true);
        } finally {
            sc.sc().removeSparkListener(failures);
        }

        // the failure really happened, during the step
        assertNotNull(failures.killed.get(), "no executor was killed");
        ProcessHandle victim = failures.killed.get();
        victim.onExit().get(30, TimeUnit.SECONDS);
        assertFalse(victim.isAlive());
        assertTrue(failures.removedExecutors.contains(failures.killedId.get()),
                () -> "executor " + failures.killedId.get() + " not reported lost; removed: " + failures.removedExecutors);
        assertFalse(executorIds(sc).contains(failures.killedId.get()));
        System.out.printf("%s, %s: killed executor %s (pid %d) at step %d's stage '%s'; %d failed tasks, %d failed stage attempts, "
                        + "undisturbed %.1f s, disturbed %.1f s%n", routing, placement, failures.killedId.get(), victim.pid(), KILL_STEP, killStage,
                failures.failedTasks.get(), failures.failedStages.get(), undisturbed.seconds, disturbed.seconds);

        // same losses step by step, same final parameters
        for (int s = 0; s < STEPS; s++) {
            assertEquals(undisturbed.losses[s], disturbed.losses[s], 1e-12 * Math.abs(undisturbed.losses[s]),
                    "task loss of step " + (s + 1));
        }
        int[] differing = {0};
        assertSame(undisturbed.params, disturbed.params, differing);
        System.out.printf("%s: %d parameter elements not bit-identical after the failure%n", placement, differing[0]);

        // the standalone Worker replaced the dead executor
        SparkTestContext.awaitExecutors(SparkTestContext.CLUSTER_EXECUTORS, 120_000);
    }

    private record Run(double[] losses, ModelParameters params, double seconds) {
    }

    private Run train(RoutingMode routing, ExpertPlacement placement, boolean kill) {
        MoENetwork net = DistributedStepEquivalenceTest.regressionNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11,
                Precision.F64);
        // sharded expert state is checkpointed every 4 steps (reliable checkpoint, SparkTestContext sets the
        // dir), so the kill in step 3 forces recomputation through the lineage of steps 1-3
        EngineConfig ec = new EngineConfig(routing, placement, 2, 24, tc, 4, false);
        // weighted rows: the loss normaliser (their weight sum) must also be recomputed identically
        double[] losses = new double[STEPS];
        long start = System.nanoTime();
        try (SparkMoETrainer engine = new SparkMoETrainer(sc,
                net, ec, sc.parallelize(DistributedStepEquivalenceTest.weighted(DistributedStepEquivalenceTest.regressionBlocks(3)), 3))) {
            for (int s = 0; s < STEPS; s++) {
                if (kill && s + 1 == KILL_STEP) ARMED.set(true);
                losses[s] = engine.trainStep().taskLoss();
            }
            return new Run(losses, engine.snapshot().params(), (System.nanoTime() - start) / 1e9);
        }
    }

    private static final AtomicBoolean ARMED = new AtomicBoolean();

    /**
     * Once {@code armed}, kills an executor (SIGKILL) when a stage holding the RDD named {@code stage}
     * is submitted by a job described {@code description} (a step's combine stage) of {@code sc};
     * counts what failed.
     */
    static final class Failures extends SparkListener {
        private final JavaSparkContext sc;
        private final String stage;
        private final String description;
        private final AtomicBoolean armed;
        final AtomicReference<ProcessHandle> killed = new AtomicReference<>();
        final AtomicReference<String> killedId = new AtomicReference<>();
        final Set<String> removedExecutors = ConcurrentHashMap.newKeySet();
        final AtomicInteger failedTasks = new AtomicInteger();
        final AtomicInteger failedStages = new AtomicInteger();

        Failures(JavaSparkContext sc, String stage, String description, AtomicBoolean armed) {
            this.sc = sc;
            this.stage = stage;
            this.description = description;
            this.armed = armed;
        }

        @Override
        public void onStageSubmitted(SparkListenerStageSubmitted submitted) {
            String job = submitted.properties() == null ? null : submitted.properties().getProperty("spark.job.description");
            boolean holds = scala.jdk.javaapi.CollectionConverters.asJava(submitted.stageInfo().rddInfos()).stream()
                    .anyMatch(r -> stage.equals(r.name()));
            if (holds && description.equals(job) && armed.compareAndSet(true, false)) {
                String id = executorIds(sc).stream().sorted().findFirst().orElseThrow();
                ProcessHandle p = executorProcess(id);
                killedId.set(id);
                killed.set(p);
                p.destroyForcibly(); // SIGKILL: no shutdown hooks, no goodbye to the driver
            }
        }

        @Override
        public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
            removedExecutors.add(removed.executorId());
        }

        @Override
        public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
            if (!taskEnd.taskInfo().successful()) failedTasks.incrementAndGet();
        }

        @Override
        public void onStageCompleted(SparkListenerStageCompleted stageCompleted) {
            if (stageCompleted.stageInfo().failureReason().isDefined()) failedStages.incrementAndGet();
        }
    }

    private static List<String> executorIds(JavaSparkContext sc) {
        return scala.jdk.javaapi.CollectionConverters.asJava(sc.sc().getExecutorIds());
    }

    /**
     * The process of an executor: on local-cluster the in-process Workers start executors as child
     * JVMs of this one, {@code ... CoarseGrainedExecutorBackend ... --executor-id <id> ...}.
     */
    static ProcessHandle executorProcess(String executorId) {
        List<ProcessHandle> found = new ArrayList<>();
        ProcessHandle.current().descendants().forEach(p -> {
            List<String> a = arguments(p);
            int at = a.indexOf("--executor-id");
            if (a.contains("org.apache.spark.executor.CoarseGrainedExecutorBackend") && at >= 0 && at + 1 < a.size()
                    && a.get(at + 1).equals(executorId)) {
                found.add(p);
            }
        });
        if (found.size() != 1) {
            throw new IllegalStateException("expected one process for executor " + executorId + ", found " + found);
        }
        return found.get(0);
    }

    /**
     * A process's command line. ProcessHandle.Info gives none for these executors on Linux (their
     * command line, with the whole test class path, is longer than the JDK reads), so read
     * /proc/PID/cmdline (NUL-separated) directly.
     */
    private static List<String> arguments(ProcessHandle p) {
        Optional<String[]> args = p.info().arguments();
        if (args.isPresent() && args.get().length > 0) {
            List<String> a = new ArrayList<>(Arrays.asList(args.get()));
            if (a.contains("org.apache.spark.executor.CoarseGrainedExecutorBackend")) return a;
        }
        try {
            byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline"));
            return Arrays.asList(new String(raw, StandardCharsets.UTF_8).split("\0"));
        } catch (IOException e) {
            return List.of(); // gone, or not Linux
        }
    }

    private static void assertSame(ModelParameters expected, ModelParameters actual, int[] differing) {
        assertSame(expected.shared().flat(), actual.shared().flat(), "shared", differing);
        assertEquals(expected.experts().length, actual.experts().length);
        for (int e = 0; e < expected.experts().length; e++) {
            assertSame(expected.experts()[e].flat(), actual.experts()[e].flat(), "expert " + e, differing);
        }
    }

    private static void assertSame(Matrix expected, Matrix actual, String what, int[] differing) {
        assertEquals(expected.size(), actual.size(), what + " size");
        for (int i = 0; i < expected.size(); i++) {
            double a = expected.getFlat(i);
            double b = actual.getFlat(i);
            if (Double.doubleToRawLongBits(a) != Double.doubleToRawLongBits(b)) differing[0]++;
            int at = i;
            assertTrue(Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)),
                    () -> what + " element " + at + ": undisturbed " + a + ", after the failure " + b);
        }
    }
}
