package org.sparkmoe.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.LongAdder;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.GemmBackend;
import org.sparkmoe.core.linalg.GemmBackends;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.DenseProjection;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SquaredErrorHead;
import org.sparkmoe.core.synthetic.RegimeMixture;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.SparkMoETrainer;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.StepReport;

/**
 * Step time and throughput of the Spark engine as the number of experts grows at fixed k and B,
 * for shuffle vs local routing and driver vs sharded expert placement. Prints a Markdown table.
 *
 * <p>Arguments (all optional, key=value): master=local[2], experts=4,16,64,256, routing=SHUFFLE,LOCAL,
 * placement=DRIVER,SHARDED, partitions=4, shards=2, batch=4096, k=2, d=128, h=512, steps=6, warmup=2,
 * payload=F32 (or BF16: bfloat16 shuffle payloads), timeline=false (true: after each row, the wall-clock
 * timeline of its last step: each job and stage with its tasks' start and end, the executor that ran each
 * task and its locality level, the shuffle bytes it read from other executors and its fetch wait, the
 * driver's gaps between jobs, the core time no task used, and the JVM's GC pauses in the step),
 * batchSgemm=false (true: after each row, the sgemm rate of the six expert GEMMs at that row's mean expert
 * batch, each thread cycling through up to 32 experts' weights, as an expert shard does).
 * It prints the bytes allocated per step split by thread (driver, task threads, result getters, DAG scheduler).
 * Each row also prints its timed steps in order, each with this JVM's kernel CPU in that step and how much the
 * machine's page cache grew (shuffle files that outlive their step make it grow; on a VM that returns free memory
 * to its host, writing into fresh page cache costs kernel time: see BENCHMARKS.md, session 12).
 * Besides step time it prints model FLOPs per step (expert GEMMs and the gate's projections), the
 * machine's sgemm rate for the expert's six GEMMs measured in the same run on all cores, bytes
 * written to shuffles per step, Spark jobs per step, and bytes allocated per step by all live
 * threads of this JVM (ThreadMXBean; in local mode that includes the executors' task threads), minor page
 * faults per step of this JVM (/proc/self/stat), the bytes this JVM passed to write calls per step
 * (/proc/self/io: in local mode mostly the shuffle files, so a shuffled byte written twice shows), and
 * CPU seconds per step: the tasks' (Spark's executorCpuTime) and this whole JVM's, which on a loaded
 * machine compare better than step times.
 * With a local master the share of step time spent in GEMM is measured by timing every GEMM call
 * (CPU time of all threads over wall time times cores). Run with OPENBLAS_NUM_THREADS=1 in the
 * environment, as the shipped Spark defaults do for executors.
 */
public final class EngineBenchmark {

    public static void main(String[] args) {
        BenchArgs a = new BenchArgs(args);
        String master = a.string("master", "local[2]");
        int[] experts = a.integers("experts", "4,16,64,256");
        String[] routings = a.string("routing", "SHUFFLE,LOCAL").split(",");
        String[] placements = a.string("placement", "DRIVER,SHARDED").split(",");
        int partitions = a.integer("partitions", 4);
        int shards = a.integer("shards", 2);
        int batch = a.integer("batch", 4096);
        int k = a.integer("k", 2);
        int d = a.integer("d", 128);
        int h = a.integer("h", 512);
        int steps = a.integer("steps", 6);
        int warmup = a.integer("warmup", 2);
        String payload = a.string("payload", "F32");
        boolean timeline = Boolean.parseBoolean(a.string("timeline", "false"));
        boolean batchSgemm = Boolean.parseBoolean(a.string("batchSgemm", "false"));
        long cells = (long) d * h;

        TimedGemm timed = new TimedGemm(GemmBackends.current());
        GemmBackends.use(timed);
        int cores = Runtime.getRuntime().availableProcessors();
        // the test suite's contexts: Kryo with our registrator, registration required; local-cluster
        // starts two executor JVMs with this JVM's class path and flags
        JavaSparkContext sc = master.startsWith("local-cluster") ? SparkTestContext.localCluster(master)
                : master.equals("local[2]") ? SparkTestContext.get() : new JavaSparkContext(SparkTestContext.conf(master));
        try {
            sc.setLogLevel("WARN");
            int perPartition = Math.max(batch * 2 / partitions, 1);
            // Each partition's rows are made on the executor that computes it, as a job's are read there
            // from its files: parallelize'd rows would travel inside every task that reads the partition
            // (about 24 a step), and their deserialisation would be counted as the engine's allocation.
            List<Integer> partitionIds = new ArrayList<>();
            for (int p = 0; p < partitions; p++) partitionIds.add(p);
            var rdd = sc.parallelize(partitionIds, partitions).map(p ->
                    RowBlock.of(new RegimeMixture(8, 4, 8, 0.1, 42).batch(perPartition, p, Precision.F32)));
            double sgemm = sgemmRate(timed.inner, cores, Math.max(k * batch / 16, 256), d, h);
            StepCounters counters = new StepCounters();
            sc.sc().addSparkListener(counters);
            System.out.printf(Locale.ROOT, "GEMM back end: %s; master %s; %d partitions, %d shards, B=%d, k=%d, d=%d, h=%d; "
                            + "load average %s%nnative sgemm, the six expert GEMMs on %d threads at once: %.1f GFLOP/s%n%n",
                    timed.inner.name(), master, partitions, shards, batch, k, d, h, loadAverage(), cores, sgemm);
            System.out.println("| routing | placement | n | expert params | step s (median) | tokens/s | model GFLOP/step | model GFLOP/s | % of sgemm "
                    + "| MB shuffled/step | MB allocated/step | minor faults/step | jobs/step | task CPU s/step | process CPU s/step | mean expert batch | GEMM share "
                + "| gate | dispatch | experts | combine | aggregate | optimiser |");
            System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for (String routing : routings) {
                for (String placement : placements) {
                    for (int n : experts) {
                        MoENetwork net = new MoENetwork(new DenseProjection(8, d),
                                new MoELayer(NoisyTopKGating.noisyTopK(d, n, k), new Expert(d, h), false, BalanceWeights.PAPER),
                                new SquaredErrorHead(d, 4));
                        EngineConfig ec = new EngineConfig(RoutingMode.valueOf(routing), ExpertPlacement.valueOf(placement),
                                Math.min(shards, n), batch, TrainerConfig.paperDefaults(0.001, 100, 1), 10, false)
                                .withShufflePayload(org.sparkmoe.engine.ShufflePayload.valueOf(payload));
                        try (SparkMoETrainer engine = new SparkMoETrainer(sc, net, ec, rdd)) {
                            for (int s = 0; s < warmup; s++) engine.trainStep();
                            double[] secs = new double[steps];
                            double mean = 0;
                            java.util.Map<String, Double> sum = new java.util.LinkedHashMap<>();
                            settle(); // the listener bus delivers the warm-up's events asynchronously
                            timed.reset();
                            counters.reset();
                            long alloc0 = allocatedBytes();
                            java.util.Map<Long, Long> byThread0 = allocatedByThread();
                            long faults0 = minorFaults();
                            long[] io0 = writes();
                            long cpu0 = processCpuNanos();
                            long wall0 = System.nanoTime();
                            long epoch0 = System.currentTimeMillis();
                            long gc0 = 0;
                            StringBuilder inOrder = new StringBuilder();
                            for (int s = 0; s < steps; s++) {
                                if (timeline && s == steps - 1) {
                                    settle(); // the earlier steps' events delivered before recording starts
                                    counters.markLastStep();
                                    gc0 = gcMillis();
                                }
                                long sys0 = systemTicks();
                                long cached0 = pageCacheKb();
                                StepReport r = engine.trainStep();
                                secs[s] = r.seconds();
                                inOrder.append(String.format(Locale.ROOT, " %.3f (sys %.2f s, page cache %+d MB, ends %d)", r.seconds(),
                                        (systemTicks() - sys0) / 100.0, (pageCacheKb() - cached0) / 1024, System.currentTimeMillis()));
                                mean += r.meanExpertBatch() / steps;
                                r.timingsMillis().forEach((key, v) -> sum.merge(key, v / steps, Double::sum));
                            }
                            long lastStepGc = gcMillis() - gc0;
                            // this JVM's kernel CPU and the machine's page cache per step: where a step's shuffle files
                            // outlive it, the page cache grows and writes into fresh pages cost kernel time
                            System.out.println("n = " + n + ": step seconds in order:" + inOrder);
                            // the timed window, for cutting a JFR recording of the whole run down to the timed steps
                            System.out.printf(Locale.ROOT, "n = %d: timed steps from epoch ms %d to %d%n", n, epoch0, System.currentTimeMillis());
                            double wall = (System.nanoTime() - wall0) / 1e9;
                            double processCpu = (processCpuNanos() - cpu0) / 1e9 / steps;
                            double allocMb = (allocatedBytes() - alloc0) / 1e6 / steps;
                            String allocSplit = allocationSplit(byThread0, steps);
                            double faults = (double) (minorFaults() - faults0) / steps;
                            long[] io1 = writes();
                            settle();
                            double shuffledMb = counters.shuffleBytes.sum() / 1e6 / steps;
                            double jobs = (double) counters.jobs.sum() / steps;
                            double taskCpu = counters.taskCpuNanos.sum() / 1e9 / steps;
                            Arrays.sort(secs);
                            double median = secs[steps / 2];
                            String share = master.startsWith("local[") ? String.format(Locale.ROOT, "%.0f%%",
                                    100.0 * timed.nanos.sum() / 1e9 / (wall * cores)) : "n/a";
                            long params = (long) n * net.moe().expert().layout().size();
                            // experts: 2 GEMMs forward, 4 backward, 2*rows*d*h each, on k*B rows; gating: the
                            // gate and noise projections (d x n each) forward, their weight gradients and dx
                            double flops = 12.0 * k * batch * cells + 3 * 2 * 2.0 * batch * d * n;
                            System.out.printf(Locale.ROOT, "| %s | %s | %d | %,d | %.3f | %,.0f | %.1f | %.1f | %.0f%% | %.1f | %.0f | %,.0f | %.1f | %.2f | %.2f | %.0f | %s | %s |%n",
                                    routing, placement, n, params, median, batch / median, flops / 1e9, flops / 1e9 / median,
                                    100 * flops / 1e9 / median / sgemm, shuffledMb, allocMb, faults, jobs, taskCpu, processCpu, mean, share, timingsRow(sum));
                            System.out.println("n = " + n + ": MB allocated/step by thread: " + allocSplit);
                            if (io0 != null && io1 != null) {
                                System.out.printf(Locale.ROOT, "n = %d: MB written/step (write calls of this JVM, /proc/self/io wchar): %.1f in %,.0f calls%n",
                                        n, (io1[0] - io0[0]) / 1e6 / steps, (double) (io1[1] - io0[1]) / steps);
                            }
                            if (batchSgemm) {
                                // what the experts stages can reach at this n: the six GEMMs at the mean expert batch, a
                                // shard's experts one after another (up to 32 a thread, enough to leave the caches)
                                int m = (int) Math.max(1, Math.round(mean));
                                double atBatch = sgemmRate(timed.inner, cores, m, d, h, Math.max(1, Math.min(32, n / cores)));
                                System.out.printf(Locale.ROOT, "n = %d: native sgemm at the mean expert batch (m = %d, %d experts a thread): "
                                        + "%.1f GFLOP/s (%.0f%% of the m = %d reading)%n", n, m, Math.max(1, Math.min(32, n / cores)), atBatch,
                                        100 * atBatch / sgemm, Math.max(k * batch / 16, 256));
                            }
                            if (timeline) System.out.print(counters.timeline(cores, lastStepGc));
                        }
                    }
                }
            }
        } finally {
            SparkTestContext.stop();
            sc.stop();
        }
    }

    /** Bytes allocated so far by the live threads of this JVM (driver and, in local mode, the executors). */
    static long allocatedBytes() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long b : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }

    /** Bytes allocated so far by each live thread of this JVM, by thread id. */
    static java.util.Map<Long, Long> allocatedByThread() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long[] ids = mx.getAllThreadIds();
        long[] bytes = mx.getThreadAllocatedBytes(ids);
        java.util.Map<Long, Long> m = new java.util.HashMap<>();
        for (int i = 0; i < ids.length; i++) if (bytes[i] > 0) m.put(ids[i], bytes[i]);
        return m;
    }

    /**
     * MB per step allocated since {@code before} by the driver's main thread, the executors' task threads,
     * the driver's task-result getters (deserialising task results), the DAG scheduler and the rest: which
     * side of the step's task results and broadcasts an allocation is on, exactly, where a sampling
     * profiler's attribution is rough. Spark renames a task thread for each task, so threads are grouped by
     * id and named by what they are now.
     */
    static String allocationSplit(java.util.Map<Long, Long> before, int steps) {
        java.util.Map<Long, Long> now = allocatedByThread();
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        // an executor's task thread is "Executor task launch worker ..." while it runs a task, "Executor task idle worker#N" after
        String[] groups = {"main", "Executor task", "task-result-getter", "dag-scheduler", "other"};
        double[] mb = new double[groups.length];
        for (java.util.Map.Entry<Long, Long> e : now.entrySet()) {
            java.lang.management.ThreadInfo ti = mx.getThreadInfo(e.getKey());
            String name = ti == null ? "" : ti.getThreadName();
            int g = groups.length - 1;
            for (int i = 0; i < groups.length - 1; i++) if (name.startsWith(groups[i])) g = i;
            mb[g] += (e.getValue() - before.getOrDefault(e.getKey(), 0L)) / 1e6 / steps;
        }
        StringBuilder b = new StringBuilder();
        String[] labels = {"driver main", "task threads", "result getters", "DAG scheduler", "other"};
        for (int i = 0; i < groups.length; i++) b.append(i == 0 ? "" : ", ").append(labels[i]).append(String.format(Locale.ROOT, " %.1f", mb[i]));
        return b.toString();
    }

    /** Field {@code index} (0-based, after the command's name) of /proc/self/stat; -1 where there is none. */
    private static long procStat(int index) {
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/stat"));
            return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[index]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Kernel CPU of this process so far in clock ticks (stime of /proc/self/stat, 100 a second on Linux); -1 where there is none. */
    static long systemTicks() {
        return procStat(12);
    }

    /** The machine's page cache in kB (Cached of /proc/meminfo); 0 where there is none. */
    static long pageCacheKb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/meminfo"))) {
                if (line.startsWith("Cached:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux
        }
        return 0;
    }

    /**
     * Minor page faults of this process so far (field minflt of /proc/self/stat; -1 where there is
     * none): each first touch of a page the JVM had not used yet, which costs CPU in the kernel, and
     * on a nearly full machine more (BENCHMARKS.md, "Session-5 engine work"). Executors of a
     * local-cluster master are other processes and are not counted.
     */
    static long minorFaults() {
        return procStat(7);
    }

    /**
     * Bytes this process has passed to write calls so far and the number of those calls (wchar and syscw
     * of /proc/self/io; null where there is none): with a local master the executors' shuffle files are
     * most of it, so it shows whether a shuffled byte is written once or twice. Executors of a
     * local-cluster master are other processes and are not counted.
     */
    static long[] writes() {
        try {
            long wchar = -1;
            long syscw = -1;
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/io"))) {
                if (line.startsWith("wchar:")) wchar = Long.parseLong(line.substring(6).trim());
                if (line.startsWith("syscw:")) syscw = Long.parseLong(line.substring(6).trim());
            }
            return wchar < 0 || syscw < 0 ? null : new long[]{wchar, syscw};
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * CPU time of this JVM, all threads (in local mode the executors' too, GC and JIT included): unlike
     * step time it does not stretch while other processes hold the cores, so its ratios survive a
     * loaded machine better (contention for caches and memory bandwidth still shows in it).
     */
    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static void settle() {
        try {
            Thread.sleep(500);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String loadAverage() {
        return String.format(Locale.ROOT, "%.2f", java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    }

    /**
     * The machine's sgemm ceiling for expert work: {@code threads} threads each run an expert's six
     * GEMMs (forward and backward, same transposes) on their own operands for about two seconds.
     */
    static double sgemmRate(GemmBackend gemm, int threads, int rows, int d, int h) {
        return sgemmRate(gemm, threads, rows, d, h, 1);
    }

    /**
     * The six expert GEMMs' rate on {@code threads} threads at once, each thread cycling through {@code sets}
     * experts' own weights and weight gradients (1: the same expert's, which stay in cache; more: as a
     * shard's experts run one after another, each expert's weights read from memory).
     */
    static double sgemmRate(GemmBackend gemm, int threads, int rows, int d, int h, int sets) {
        LongAdder done = new LongAdder();
        long until = System.nanoTime() + 2_500_000_000L;
        List<Thread> ts = new ArrayList<>();
        long[] startAt = new long[1];
        java.util.concurrent.CyclicBarrier barrier = new java.util.concurrent.CyclicBarrier(threads, () -> startAt[0] = System.nanoTime());
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                java.util.SplittableRandom r = new java.util.SplittableRandom(7);
                float[] x = fill(r, rows * d), hid = new float[rows * h];
                float[] out = new float[rows * d], dOut = fill(r, rows * d), dh = new float[rows * h], dx = new float[rows * d];
                float[][] w1 = new float[sets][], w2 = new float[sets][], gW1 = new float[sets][], gW2 = new float[sets][];
                for (int e = 0; e < sets; e++) {
                    w1[e] = fill(r, d * h);
                    w2[e] = fill(r, h * d);
                    gW1[e] = new float[d * h];
                    gW2[e] = new float[h * d];
                }
                six(gemm, rows, d, h, x, w1[0], w2[0], hid, out, dOut, dh, gW1[0], gW2[0], dx); // warm-up
                try {
                    barrier.await();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                int e = 0;
                do { // at least once, however slow the machine
                    six(gemm, rows, d, h, x, w1[e], w2[e], hid, out, dOut, dh, gW1[e], gW2[e], dx);
                    done.increment();
                    e = (e + 1) % sets;
                } while (System.nanoTime() < until);
            });
            ts.add(th);
            th.start();
        }
        for (Thread th : ts) {
            try {
                th.join();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }
        double secs = (System.nanoTime() - startAt[0]) / 1e9;
        return done.sum() * 12.0 * rows * d * h / secs / 1e9;
    }

    private static float[] fill(java.util.SplittableRandom r, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) (r.nextDouble() - 0.5);
        return a;
    }

    private static void six(GemmBackend g, int m, int d, int h, float[] x, float[] w1, float[] w2, float[] hid, float[] out,
                            float[] dOut, float[] dh, float[] gW1, float[] gW2, float[] dx) {
        g.sgemm(false, false, m, h, d, 1f, x, 0, d, w1, 0, h, 0f, hid, 0, h);
        g.sgemm(false, false, m, d, h, 1f, hid, 0, h, w2, 0, d, 0f, out, 0, d);
        g.sgemm(false, true, m, h, d, 1f, dOut, 0, d, w2, 0, d, 0f, dh, 0, h);
        g.sgemm(true, false, h, d, m, 1f, hid, 0, h, dOut, 0, d, 0f, gW2, 0, d);
        g.sgemm(true, false, d, h, m, 1f, x, 0, d, dh, 0, h, 0f, gW1, 0, h);
        g.sgemm(false, true, m, d, h, 1f, dh, 0, h, w1, 0, h, 0f, dx, 0, d);
    }

    /** Milliseconds the JVM's collectors have spent so far (pauses, and for G1 its concurrent cycles' pauses). */
    static long gcMillis() {
        long ms = 0;
        for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) ms += Math.max(0, gc.getCollectionTime());
        return ms;
    }

    /** Jobs started and shuffle bytes written, from the scheduler's events; the last step's jobs and tasks for the timeline. */
    static final class StepCounters extends SparkListener {
        final LongAdder jobs = new LongAdder();
        final LongAdder shuffleBytes = new LongAdder();
        /** CPU time of the tasks (Spark's executorCpuTime: running, deserialising and serialising them), ns. */
        final LongAdder taskCpuNanos = new LongAdder();
        /** The last step's events, recorded from {@link #markLastStep()} on (the listener bus is one thread). */
        private volatile boolean recording;
        private final List<long[]> jobTimes = new ArrayList<>(); // job id, submitted, ended
        private final java.util.Map<Integer, String> stageNames = new java.util.TreeMap<>();
        private final java.util.Map<Integer, Integer> stageJob = new java.util.HashMap<>();
        private final List<long[]> taskTimes = new ArrayList<>(); // stage, index, launch, finish, run ms, cpu ns, gc ms
        /** Per entry of {@link #taskTimes}: the executor that ran the task and its locality level. */
        private final List<String> taskPlaces = new ArrayList<>();

        void reset() {
            jobs.reset();
            shuffleBytes.reset();
            taskCpuNanos.reset();
            recording = false;
        }

        synchronized void markLastStep() {
            jobTimes.clear();
            stageNames.clear();
            stageJob.clear();
            taskTimes.clear();
            taskPlaces.clear();
            recording = true;
        }

        @Override
        public synchronized void onJobStart(SparkListenerJobStart jobStart) {
            jobs.increment();
            if (!recording) return;
            jobTimes.add(new long[]{jobStart.jobId(), jobStart.time(), -1});
            scala.jdk.javaapi.CollectionConverters.asJava(jobStart.stageInfos()).forEach(si -> {
                stageNames.put(si.stageId(), si.name());
                stageJob.put(si.stageId(), jobStart.jobId());
            });
        }

        @Override
        public synchronized void onJobEnd(org.apache.spark.scheduler.SparkListenerJobEnd jobEnd) {
            for (long[] j : jobTimes) if (j[0] == jobEnd.jobId()) j[2] = jobEnd.time();
        }

        @Override
        public synchronized void onTaskEnd(SparkListenerTaskEnd taskEnd) {
            var m = taskEnd.taskMetrics();
            if (m != null) {
                shuffleBytes.add(m.shuffleWriteMetrics().bytesWritten());
                taskCpuNanos.add(m.executorCpuTime());
            }
            if (recording) {
                var ti = taskEnd.taskInfo();
                taskTimes.add(new long[]{taskEnd.stageId(), ti.index(), ti.launchTime(), ti.finishTime(),
                        m == null ? 0 : m.executorRunTime(), m == null ? 0 : m.executorCpuTime(), m == null ? 0 : m.jvmGCTime(),
                        m == null ? 0 : m.shuffleReadMetrics().remoteBytesRead(), m == null ? 0 : m.shuffleReadMetrics().fetchWaitTime()});
                taskPlaces.add("executor " + ti.executorId() + ", " + ti.taskLocality());
            }
        }

        /**
         * The recorded step as text: per job its wall time and the driver's gap before it, per stage its tasks
         * (start and end in ms from the step's first job, run and CPU time), and the core-milliseconds no task
         * used ({@code cores} x wall - task wall), which is where a step on few cores waits on its slowest task
         * or on the driver.
         */
        synchronized String timeline(int cores, long gcMillis) {
            StringBuilder sb = new StringBuilder();
            if (jobTimes.isEmpty()) return "";
            long t0 = jobTimes.get(0)[1];
            long prevEnd = -1, busy = 0, gaps = 0;
            long end = t0;
            for (long[] j : jobTimes) {
                long gap = prevEnd < 0 ? 0 : j[1] - prevEnd;
                gaps += gap;
                sb.append(String.format(Locale.ROOT, "    job %d: %d..%d ms (%d ms), driver gap before it %d ms%n", j[0], j[1] - t0, j[2] - t0, j[2] - j[1], gap));
                for (var st : stageNames.entrySet()) {
                    if (stageJob.get(st.getKey()) != j[0]) continue;
                    List<Integer> ts = new ArrayList<>();
                    for (int i = 0; i < taskTimes.size(); i++) if (taskTimes.get(i)[0] == st.getKey()) ts.add(i);
                    if (ts.isEmpty()) continue; // skipped: its output was already there
                    ts.sort(java.util.Comparator.comparingLong(i -> taskTimes.get(i)[2]));
                    sb.append(String.format(Locale.ROOT, "      stage %d %s%n", st.getKey(), st.getValue()));
                    for (int i : ts) {
                        long[] t = taskTimes.get(i);
                        busy += t[3] - t[2];
                        sb.append(String.format(Locale.ROOT, "        task %d: %d..%d ms (run %d ms, CPU %.0f ms, GC %d ms, %s, shuffle read remote %d B, fetch wait %d ms)%n",
                                t[1], t[2] - t0, t[3] - t0, t[4], t[5] / 1e6, t[6], taskPlaces.get(i), t[7], t[8]));
                    }
                }
                prevEnd = j[2];
                end = Math.max(end, j[2]);
            }
            long wall = end - t0;
            sb.append(String.format(Locale.ROOT, "    last step: jobs %d ms from first submit to last end; task wall %d ms on %d cores: "
                    + "%d core-ms with no task running (%.0f%%); driver gaps between jobs %d ms; JVM GC %d ms%n",
                    wall, busy, cores, cores * wall - busy, 100.0 * (cores * wall - busy) / Math.max(1, cores * wall), gaps, gcMillis));
            return sb.toString();
        }
    }

    private static String timingsRow(java.util.Map<String, Double> t) {
        String[] keys = {"gate", "dispatch", "experts", "combine", "aggregate", "optimiser"};
        StringBuilder sb = new StringBuilder();
        for (String key : keys) {
            Double v = t.get(key);
            if (sb.length() > 0) sb.append(" | ");
            sb.append(v == null ? "-" : String.format(Locale.ROOT, "%.0f ms", v));
        }
        return sb.toString();
    }

    /** Wraps the selected back end and adds up the wall time of every GEMM call, on any thread. */
    static final class TimedGemm implements GemmBackend {
        final GemmBackend inner;
        final LongAdder nanos = new LongAdder();

        TimedGemm(GemmBackend inner) {
            this.inner = inner;
        }

        void reset() {
            nanos.reset();
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                          float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
            long t = System.nanoTime();
            inner.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            nanos.add(System.nanoTime() - t);
        }

        @Override
        public void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha, double[] a, int aOff, int lda,
                          double[] b, int bOff, int ldb, double beta, double[] c, int cOff, int ldc) {
            long t = System.nanoTime();
            inner.dgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            nanos.add(System.nanoTime() - t);
        }
    }
}
