package org.sparkmoe.bench;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.GemmBackends;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.SequenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.sequence.SequenceLayout;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

import scala.Tuple2;

/**
 * Training throughput (tokens/s, float32) of the recurrent LM's Spark step
 * ({@link SparkSequenceTrainer}, DRIVER placement) against the single-JVM reference step
 * ({@link SequenceTrainer}: forward, backward, clipping and Adam on one thread) measured in the same
 * process on the same documents, so that the ratio holds however loaded the machine is. The
 * reference is timed before and after the Spark run and the two rates averaged. Per timed Spark
 * step it also reports the CPU time of the whole process (all threads, GC and JIT included; the
 * reference's over its own steps), the Spark jobs, stages and tasks (a listener) and the bytes
 * allocated by the JVM's live threads (driver and, in local mode, the executor's task threads). CPU
 * time and allocation do not depend on the machine's load; the tokens/s do, and on a loaded Linux
 * machine with autogroup scheduling a process's threads share one group's slice, so the two
 * Spark tasks gain little wall-clock over one thread there. Run with {@code OPENBLAS_NUM_THREADS=1}
 * (as conf/spark-defaults.conf sets for executors): otherwise the "one thread" reference runs its
 * GEMMs on every core and each Spark task does too.
 *
 * <p>Arguments (key=value, all optional): V=10000, d=64, h=128, k=2, S=128, T=20, models=lstm,moe-32
 * (lstm, wide, moe-N), partitions=2, master=local[2], routing=auto, steps=10, warmup=3,
 * documents=512, docLength=400.
 */
public final class SparkSequenceBenchmark {

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        int v = a.integer("V", 10000), d = a.integer("d", 64), h = a.integer("h", 128), k = a.integer("k", 2);
        int s = a.integer("S", 128), t = a.integer("T", 20), partitions = a.integer("partitions", 2);
        int steps = a.integer("steps", 10), warmup = a.integer("warmup", 3);
        int documents = a.integer("documents", 512), docLength = a.integer("docLength", 400);
        RoutingMode routing = RoutingMode.valueOf(a.string("routing", "auto").toUpperCase(Locale.ROOT));
        String master = a.string("master", "local[2]");
        System.out.printf(Locale.ROOT, "V=%d d=%d h=%d k=%d S=%d T=%d, %s, %d partitions, routing %s, %d steps after %d warm-up;"
                        + " gemm %s; load average before: %s%n", v, d, h, k, s, t, master, partitions, routing, steps, warmup,
                GemmBackends.current().name(), EngineBenchmark.loadAverage());
        SparkConf conf = new SparkConf().setMaster(master).setAppName("spark-moe sequence benchmark")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "org.sparkmoe.engine.serde.MoEKryoRegistrator")
                .set("spark.kryo.registrationRequired", "true")
                .set("spark.ui.enabled", "false");
        List<String> lines = new ArrayList<>();
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            sc.setLogLevel("WARN");
            StepCounter counter = new StepCounter();
            sc.sc().addSparkListener(counter);
            List<Tuple2<Long, int[]>> docs = new ArrayList<>();
            SplittableRandom r = new SplittableRandom(7);
            for (long i = 0; i < documents; i++) {
                int[] w = new int[docLength];
                for (int q = 0; q < w.length; q++) w[q] = r.nextInt(v - 1);
                docs.add(new Tuple2<>(i, w));
            }
            JavaPairRDD<Long, int[]> rdd = sc.parallelizePairs(docs, partitions).cache();
            rdd.count();
            TrainerConfig cfg = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.01, 100), 1.0, 1, Precision.F32);
            SequenceLayout layout = new SequenceLayout(s, t, v - 1, 0, documents, partitions);
            for (String key : a.string("models", "lstm,moe-32").split(",")) {
                RecurrentLanguageModel model = model(key.trim(), v, d, h, k);
                double ref1 = reference(model, cfg, docs, layout, steps, warmup);
                double refCpu1 = REFERENCE_CPU_MS[0];
                int n = model.numExperts();
                EngineConfig ec = EngineConfig.of(routing, ExpertPlacement.DRIVER, Math.max(1, Math.min(2, n)), s * t, cfg);
                double spark;
                double jobs, stages, tasks, mb, sparkCpu;
                try (SparkSequenceTrainer trainer = new SparkSequenceTrainer(sc, model, ec, rdd, layout)) {
                    for (int i = 0; i < warmup; i++) trainer.trainStep();
                    counter.reset();
                    long bytes0 = allocatedBytes();
                    java.util.Map<String, Long> cpu0 = cpuByThreadGroup();
                    long process0 = processCpuNanos();
                    long t0 = System.nanoTime();
                    java.util.Map<String, Double> timings = new java.util.TreeMap<>();
                    for (int i = 0; i < steps; i++) {
                        trainer.trainStep().timingsMillis().forEach((name, ms) -> timings.merge(name, ms / steps, Double::sum));
                    }
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    mb = (allocatedBytes() - bytes0) / 1e6 / steps;
                    sparkCpu = (processCpuNanos() - process0) / 1e6 / steps;
                    java.util.Map<String, Double> cpu = new java.util.TreeMap<>();
                    cpuByThreadGroup().forEach((g, ns) -> cpu.put(g, (ns - cpu0.getOrDefault(g, 0L)) / 1e6 / steps));
                    spark = (double) steps * s * t / seconds;
                    jobs = counter.jobs.get() / (double) steps;
                    stages = counter.stages.get() / (double) steps;
                    tasks = counter.tasks.get() / (double) steps;
                    System.out.printf(Locale.ROOT, "%s: driver ms per step %s; task ms per step (summed over tasks) %s; CPU ms per step"
                            + " by thread %s; reference CPU ms per step %.1f%n", key, format(timings), format(counter.perStep(steps)),
                            format(cpu), REFERENCE_CPU_MS[0]);
                }
                double ref2 = reference(model, cfg, docs, layout, steps, warmup);
                double ref = (ref1 + ref2) / 2, refCpu = (refCpu1 + REFERENCE_CPU_MS[0]) / 2;
                String line = String.format(Locale.ROOT, "| %s | %,.0f (%,.0f, %,.0f) | %,.0f | %.2f | %,.0f | %,.0f | %.2f | %.1f / %.1f / %.1f | %,.0f | %s |",
                        key, ref, ref1, ref2, spark, spark / ref, refCpu, sparkCpu, sparkCpu / refCpu, jobs, stages, tasks, mb, EngineBenchmark.loadAverage());
                System.out.println(line);
                lines.add(line);
            }
        }
        System.out.println();
        System.out.println("| model | reference tokens/s, one thread (before, after) | Spark tokens/s | Spark / reference |"
                + " reference CPU ms/step | Spark CPU ms/step | CPU Spark / reference | jobs / stages / tasks per step |"
                + " MB allocated per step | load average after |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        lines.forEach(System.out::println);
    }

    static RecurrentLanguageModel model(String key, int v, int d, int h, int k) {
        if (key.equals("lstm")) return RecurrentLanguageModel.lstmOnly(v, d, 0.1);
        if (key.equals("wide")) return RecurrentLanguageModel.moeOneWide(v, d, k * h, 0.1);
        if (key.matches("moe-[0-9]+")) {
            int n = Integer.parseInt(key.substring(4));
            return RecurrentLanguageModel.withMoE(v, d, NoisyTopKGating.noisyTopK(d, n, k), h, BalanceWeights.PAPER, 0.1);
        }
        throw new IllegalArgumentException("models: unknown '" + key + "'; expected lstm, wide or moe-N");
    }

    /** The one-thread reference step's tokens/s on the same documents and windows as the Spark run. */
    static double reference(RecurrentLanguageModel model, TrainerConfig cfg, List<Tuple2<Long, int[]>> docs, SequenceLayout layout,
                            int steps, int warmup) {
        SequenceTrainer trainer = new SequenceTrainer(model, cfg, layout.sequences());
        DocumentStreams streams = new DocumentStreams(layout.sequences(), layout.steps(), i -> docs.get((int) i)._2(), layout.endToken(),
                layout.first(), layout.count(), true);
        for (int i = 0; i < warmup; i++) trainer.step(streams.next());
        long c0 = processCpuNanos();
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) trainer.step(streams.next());
        REFERENCE_CPU_MS[0] = (processCpuNanos() - c0) / 1e6 / steps;
        return (double) steps * layout.sequences() * layout.steps() / ((System.nanoTime() - t0) / 1e9);
    }

    /** CPU time of the whole process (every thread: GC and JIT compiler included), nanoseconds. */
    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** Process CPU ms per step of the last reference run. */
    private static final double[] REFERENCE_CPU_MS = new double[1];

    /** CPU time so far of the live threads, by name with digits dropped ("Executor task launch worker-", "main", ...). */
    static java.util.Map<String, Long> cpuByThreadGroup() {
        var mx = ManagementFactory.getThreadMXBean();
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        for (var info : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (info == null) continue;
            long ns = mx.getThreadCpuTime(info.getThreadId());
            if (ns > 0) out.merge(info.getThreadName().replaceAll("[0-9]+", ""), ns, Long::sum);
        }
        return out;
    }

    /** Bytes allocated so far by the JVM's live threads (task threads of a local master included). */
    static long allocatedBytes() {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long b : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }

    private static String format(java.util.Map<String, Double> ms) {
        StringBuilder b = new StringBuilder();
        ms.forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(String.format(Locale.ROOT, " %.1f", v)));
        return b.toString();
    }

    /** Counts the jobs, stages and tasks Spark runs, and sums the tasks' metrics (milliseconds). */
    static final class StepCounter extends SparkListener {
        final AtomicInteger jobs = new AtomicInteger(), stages = new AtomicInteger(), tasks = new AtomicInteger();
        private final java.util.Map<String, Double> taskMillis = new java.util.TreeMap<>();

        synchronized void reset() {
            jobs.set(0);
            stages.set(0);
            tasks.set(0);
            taskMillis.clear();
        }

        synchronized java.util.Map<String, Double> perStep(int steps) {
            java.util.Map<String, Double> m = new java.util.TreeMap<>();
            taskMillis.forEach((k, v) -> m.put(k, v / steps));
            return m;
        }

        private void add(String key, double ms) {
            taskMillis.merge(key, ms, Double::sum);
        }

        @Override
        public void onJobStart(SparkListenerJobStart e) {
            jobs.incrementAndGet();
        }

        @Override
        public void onStageCompleted(SparkListenerStageCompleted e) {
            stages.incrementAndGet();
        }

        @Override
        public void onTaskEnd(SparkListenerTaskEnd e) {
            tasks.incrementAndGet();
            var m = e.taskMetrics();
            if (m == null) return;
            synchronized (this) {
                add("run", m.executorRunTime());
                add("deserialise", m.executorDeserializeTime());
                add("result serialise", m.resultSerializationTime());
                add("gc", m.jvmGCTime());
                add("shuffle write", m.shuffleWriteMetrics().writeTime() / 1e6);
                add("shuffle fetch wait", m.shuffleReadMetrics().fetchWaitTime());
                add("getting result", e.taskInfo().gettingResultTime() == 0 ? 0
                        : e.taskInfo().finishTime() - e.taskInfo().gettingResultTime());
                add("wall (launch to finish)", e.taskInfo().duration());
            }
        }
    }
}
