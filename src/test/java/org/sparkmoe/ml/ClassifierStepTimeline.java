package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.SparkMoETrainer;
import org.sparkmoe.engine.StepReport;
import org.sparkmoe.engine.SparkTestContext;

/**
 * Configuration 4's step as a timeline (issue 9): the classifier of {@code MlpComparisonBenchmark}
 * (d = 64, n = 16, k = 2, h = 64, B = 16384, 4 partitions, local[2], the estimator's engine settings:
 * driver-held experts, local routing) trained through {@link SparkMoETrainer} directly, so that the
 * driver's phases of each step ({@link StepReport#timingsMillis()}) line up with what a
 * {@link SparkListener} sees (jobs, stages, each task's launch, deserialisation, run, result
 * serialisation and finish, in milliseconds from the step's start). Prints the last step's timeline
 * and the mean of each span over the timed steps. Not a test.
 *
 * <p>Arguments (key=value): rows=100000, batch=16384, warmup=20, steps=30.
 */
public final class ClassifierStepTimeline {

    private record Event(long at, String what) {
    }

    /** Spark's events with their (epoch millisecond) times, as the listener bus delivers them. */
    private static final class Recorder extends SparkListener {
        final List<Event> events = Collections.synchronizedList(new ArrayList<>());
        final long[] taskSums = new long[6]; // deserialise, run, result serialise, getting result, cpu, result bytes
        long tasks;

        @Override
        public void onJobStart(SparkListenerJobStart e) {
            events.add(new Event(e.time(), "job " + e.jobId() + " start (" + e.stageIds().size() + " stages)"));
        }

        @Override
        public void onJobEnd(SparkListenerJobEnd e) {
            events.add(new Event(e.time(), "job " + e.jobId() + " end"));
        }

        @Override
        public void onStageSubmitted(SparkListenerStageSubmitted e) {
            Object t = e.stageInfo().submissionTime().getOrElse(() -> 0L);
            events.add(new Event((Long) t, "  stage " + e.stageInfo().stageId() + " submitted (" + e.stageInfo().numTasks() + " tasks)"));
        }

        @Override
        public void onStageCompleted(SparkListenerStageCompleted e) {
            Object t = e.stageInfo().completionTime().getOrElse(() -> 0L);
            events.add(new Event((Long) t, "  stage " + e.stageInfo().stageId() + " completed"));
        }

        @Override
        public synchronized void onTaskEnd(SparkListenerTaskEnd e) {
            var i = e.taskInfo();
            var m = e.taskMetrics();
            events.add(new Event(i.launchTime(), String.format(Locale.ROOT,
                    "    task %d.%d (stage %d) on thread-slot %s: launch; deserialise %d ms, run %d ms (cpu %.1f), result ser %d ms, %,d B result, gc %d",
                    e.stageId(), i.index(), e.stageId(), i.executorId() + "/" + i.taskLocality(), m.executorDeserializeTime(),
                    m.executorRunTime(), m.executorCpuTime() / 1e6, m.resultSerializationTime(), m.resultSize(), m.jvmGCTime())));
            if (i.gettingResultTime() > 0) events.add(new Event(i.gettingResultTime(), "    task " + e.stageId() + "." + i.index() + " getting result"));
            events.add(new Event(i.finishTime(), "    task " + e.stageId() + "." + i.index() + " finish"));
            taskSums[0] += m.executorDeserializeTime();
            taskSums[1] += m.executorRunTime();
            taskSums[2] += m.resultSerializationTime();
            taskSums[3] += i.gettingResultTime() > 0 ? i.finishTime() - i.gettingResultTime() : 0;
            taskSums[4] += m.executorCpuTime();
            taskSums[5] += m.resultSize();
            tasks++;
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new java.util.HashMap<>();
        for (String arg : args) a.put(arg.substring(0, arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
        int rows = Integer.parseInt(a.getOrDefault("rows", "100000"));
        int batch = Integer.parseInt(a.getOrDefault("batch", "16384"));
        int warmup = Integer.parseInt(a.getOrDefault("warmup", "20"));
        int steps = Integer.parseInt(a.getOrDefault("steps", "30"));
        SparkSession spark = SparkSession.builder()
                .config(SparkTestContext.conf("local[2]").set("spark.kryo.registrationRequired", "false")).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int dim = 64, classes = 10;
        StructType schema = new StructType().add("features", new VectorUDT(), false).add("label", DataTypes.DoubleType, false);
        Dataset<Row> train = spark.createDataFrame(org.sparkmoe.bench.MlpComparisonBenchmark.clusteredRows(rows, dim, classes, 3), schema).randomSplit(new double[]{0.8, 0.2}, 3)[0].repartition(4).cache();
        train.count();
        MoEClassifier clf = new MoEClassifier().setNumExperts(16).setK(2).setModelDim(dim).setExpertHiddenSize(64)
                .setBatchSize(batch).setMaxSteps(warmup + steps).setStepSize(0.01).setWarmupSteps(0).setSeed(3);
        NetworkSpec spec = ParamsConfig.spec(clf, NetworkSpec.Task.CLASSIFICATION, dim, classes);
        MoENetwork net = spec.build();
        EngineConfig config = ParamsConfig.engineConfig(clf);
        JavaRDD<RowBlock> blocks = FeatureBlocks.blocks(train, "features", "label", "", dim, classes).persist(StorageLevel.MEMORY_AND_DISK());
        Recorder rec = new Recorder();
        try (SparkMoETrainer trainer = new SparkMoETrainer(sc, net, config, blocks)) {
            for (int s = 0; s < warmup; s++) trainer.trainStep();
            Thread.sleep(500);
            spark.sparkContext().addSparkListener(rec);
            Map<Long, Long> threads0 = threadCpu();
            long cpu0 = processCpuNanos();
            long alloc0 = allocatedBytes();
            long w0 = System.nanoTime();
            long lastStart = 0;
            StepReport last = null;
            Map<String, Double> sums = new java.util.LinkedHashMap<>();
            for (int s = 0; s < steps; s++) {
                lastStart = System.currentTimeMillis();
                last = trainer.trainStep();
                last.timingsMillis().forEach((k, v) -> sums.merge(k, v, Double::sum));
            }
            double wall = (System.nanoTime() - w0) / 1e6 / steps;
            double cpu = (processCpuNanos() - cpu0) / 1e6 / steps;
            Map<Long, Long> threads1 = threadCpu();
            System.out.print("CPU ms a step by thread (Java threads by id, named as at the end without numbers; the rest of the process CPU is GC,"
                    + " JIT and other native threads):");
            double javaThreads = 0;
            Map<String, Long> named = new java.util.HashMap<>();
            java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
            for (Map.Entry<Long, Long> e : threads1.entrySet()) {
                long d = e.getValue() - threads0.getOrDefault(e.getKey(), 0L);
                java.lang.management.ThreadInfo info = mx.getThreadInfo(e.getKey());
                String name = info == null ? "(ended)" : info.getThreadName().replaceAll("[0-9]+", "N");
                if (name.startsWith("Executor task")) name = "Executor task threads"; // renamed per task, and when idle
                if (d > 0) named.merge(name, d, Long::sum);
            }
            List<Map.Entry<String, Long>> byThread = new ArrayList<>(named.entrySet());
            byThread.sort(Map.Entry.<String, Long>comparingByValue().reversed());
            for (Map.Entry<String, Long> e : byThread) {
                javaThreads += e.getValue() / 1e6 / steps;
                if (e.getValue() / 1e6 / steps >= 0.1) System.out.printf(Locale.ROOT, " %s %.1f;", e.getKey(), e.getValue() / 1e6 / steps);
            }
            System.out.printf(Locale.ROOT, " all Java threads %.1f, other %.1f%n", javaThreads, cpu - javaThreads);
            double alloc = (allocatedBytes() - alloc0) / 1e6 / steps;
            Thread.sleep(1000);
            System.out.printf(Locale.ROOT, "%d timed steps after %d: %.1f ms a step (%,.0f examples/s), process CPU %.1f ms a step, "
                            + "%.1f MB allocated (live threads) a step; load average %s%n", steps, warmup, wall, batch * 1e3 / wall, cpu, alloc,
                    String.format(Locale.ROOT, "%.2f", java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
            System.out.printf(Locale.ROOT, "per step: %.1f tasks, task deserialise %.1f ms, run %.1f ms (cpu %.1f), result ser %.1f ms, "
                            + "fetching results %.1f ms, %,.0f result bytes%n", rec.tasks / (double) steps, rec.taskSums[0] / (double) steps,
                    rec.taskSums[1] / (double) steps, rec.taskSums[4] / 1e6 / steps, rec.taskSums[2] / (double) steps,
                    rec.taskSums[3] / (double) steps, rec.taskSums[5] / (double) steps);
            System.out.print("driver spans, mean ms a step:");
            sums.forEach((k, v) -> System.out.printf(Locale.ROOT, " %s %.1f;", k, v / steps));
            System.out.println();
            System.out.println("last step (ms from its start), driver: " + last.timingsMillis());
            List<Event> ev = new ArrayList<>(rec.events);
            ev.sort(java.util.Comparator.comparingLong(Event::at));
            for (Event e : ev) if (e.at() >= lastStart - 5) System.out.printf(Locale.ROOT, "%6d %s%n", e.at() - lastStart, e.what());
        }
        spark.stop();
    }

    private static long allocatedBytes() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long b : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** CPU time of the live Java threads by id (threads that ended are lost). */
    private static Map<Long, Long> threadCpu() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        Map<Long, Long> out = new java.util.HashMap<>();
        for (long id : mx.getAllThreadIds()) {
            long c = mx.getThreadCpuTime(id);
            if (c > 0) out.put(id, c);
        }
        return out;
    }
}
