package org.sparkmoe.bench;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.metrics.StepMetrics;
import org.sparkmoe.job.MoEJob;

/**
 * Configuration 2 of issue 9 in one process: the LM job's {@code train} for the MoE (n = 32, k = 2,
 * h = 128) and for the dense baseline of the same compute per token (one expert of h = 256), one
 * after the other on one SparkContext (local[2]), {@code rounds} times alternating, so that both
 * see the same JVM and about the same load. Prints each run's median step time over the steps after
 * {@code skip} (from its {@code metrics.jsonl}: examples / tokens per second), its routing-relevant
 * batch, and the MoE / dense ratio per round; then per run the median of each phase's task time
 * ({@code metrics.jsonl}'s timings: in local routing "experts" is the whole local forward and backward
 * pass, output head included), and over the whole run, per step, the tasks' CPU time per Spark stage
 * (Spark's executorCpuTime, by the stage's call site) and the bytes the JVM's threads allocated.
 * CPU and allocation do not stretch with load the way wall time does. Per stage it also prints the
 * stage's wall time, the bytes its tasks returned to the driver and the time the driver took to fetch
 * them (a result over {@code spark.task.maxDirectResultSize} goes through the block manager). The session
 * sets that to 16m as the job does ({@code -Dspark.task.maxDirectResultSize=1m}: Spark's default).
 *
 * <p>Arguments (key=value): input (a glob of Brown files, required), steps=30, skip=5, rounds=1,
 * alternate=false (true: the dense run first in even rounds),
 * then any job keys (e.g. engine.batchSize=2048) passed to both runs.
 */
public final class LmJobComparison {

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        String input = a.string("input", "");
        if (input.isEmpty()) throw new IllegalArgumentException("input=<glob of the Brown corpus files> is required");
        int steps = a.integer("steps", 30);
        int skip = a.integer("skip", 5);
        int rounds = a.integer("rounds", 1);
        // alternate=true: the dense run goes first in even rounds, so that neither model always pays for
        // the JVM's first steps (JIT, heap growth and its first-touch page faults) after the other's
        boolean alternate = Boolean.parseBoolean(a.string("alternate", "false"));
        List<String> extra = new ArrayList<>();
        for (String s : args) {
            String k = s.substring(0, Math.max(0, s.indexOf('=')));
            if (k.contains(".")) extra.add(s);
        }
        List<String> common = new ArrayList<>(List.of("input.path=" + input, "input.documentPerFile=true", "input.stripTags=true",
                "model.vocabularySize=4000", "model.modelDim=64", "optim.maxSteps=" + steps, "checkpoint.interval=1000000"));
        common.addAll(extra);
        List<String> moe = List.of("model.numExperts=32", "model.k=2", "model.expertHiddenSize=128");
        List<String> dense = List.of("model.gating=softmax", "model.numExperts=1", "model.expertHiddenSize=256", "engine.expertShards=1");

        // the job's own session default (MoEJob.run sets it where the user has not), which a session built here must set itself
        SparkSession spark = SparkSession.builder().config(SparkTestContext.conf("local[2]")
                .set("spark.task.maxDirectResultSize", System.getProperty("spark.task.maxDirectResultSize", "16m"))).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Path root = Files.createTempDirectory("lm-job-comparison");
        System.out.printf(Locale.ROOT, "steps %d (median over steps %d-%d), %s; load average %s%n%n", steps, skip + 1, steps,
                String.join(" ", extra), EngineBenchmark.loadAverage());
        StageCpu cpu = new StageCpu();
        spark.sparkContext().addSparkListener(cpu);
        List<String> details = new ArrayList<>();
        System.out.println("| round | model | batch | step ms (median) | tokens/s | load average |");
        System.out.println("|---:|---|---:|---:|---:|---:|");
        for (int r = 1; r <= rounds; r++) {
            double[] ms = new double[2];
            for (int i = 0; i < 2; i++) {
                int m = alternate && r % 2 == 0 ? 1 - i : i;
                String name = m == 0 ? "MoE n=32 k=2 h=128" : "dense h=256";
                Path out = root.resolve("r" + r + "-" + m);
                List<String> cmd = new ArrayList<>(List.of("train", "output.dir=" + out));
                cmd.addAll(common);
                cmd.addAll(m == 0 ? moe : dense);
                cpu.reset();
                long alloc0 = EngineBenchmark.allocatedBytes();
                int rc = MoEJob.run(sc, new PrintStream(new java.io.ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                        cmd.toArray(new String[0]));
                if (rc != 0) throw new IllegalStateException(name + ": the job exited " + rc);
                double allocMb = (EngineBenchmark.allocatedBytes() - alloc0) / 1e6;
                List<Double> stepMs = new ArrayList<>();
                java.util.Map<String, List<Double>> phases = new java.util.LinkedHashMap<>();
                long batch = 0;
                int ran = 0;
                for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
                    StepMetrics sm = StepMetrics.parse(line);
                    batch = sm.examples();
                    ran++;
                    if (sm.step() > skip) {
                        stepMs.add(1000.0 * sm.examples() / sm.tokensPerSecond());
                        sm.timingsMs().forEach((k, v) -> phases.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
                    }
                }
                StringBuilder d = new StringBuilder(String.format(Locale.ROOT, "round %d, %s (load %s): median task ms per step:", r, name,
                        EngineBenchmark.loadAverage()));
                phases.forEach((k, v) -> d.append(String.format(Locale.ROOT, " %s %.1f;", k, median(v))));
                d.append(String.format(Locale.ROOT, "%n  whole run, per step (%d steps): MB allocated %.1f; task CPU ms %s", ran,
                        allocMb / ran, cpu.perStep(ran)));
                d.append(String.format(Locale.ROOT, "%n  stages, per step: %s", cpu.wallPerStep(ran)));
                details.add(d.toString());
                stepMs.sort(null);
                ms[m] = stepMs.get(stepMs.size() / 2);
                System.out.printf(Locale.ROOT, "| %d | %s | %d | %.0f | %,.0f | %s |%n", r, name, batch, ms[m], 1000.0 * batch / ms[m],
                        EngineBenchmark.loadAverage());
            }
            System.out.printf(Locale.ROOT, "| %d | MoE / dense | | %.2fx | | |%n", r, ms[0] / ms[1]);
        }
        System.out.println();
        details.forEach(System.out::println);
        spark.stop();
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        return s.get(s.size() / 2);
    }

    /** Task CPU time per stage call site (Spark's executorCpuTime), summed since {@link #reset}. */
    private static final class StageCpu extends org.apache.spark.scheduler.SparkListener {
        private final java.util.Map<String, Long> nanos = new java.util.TreeMap<>();
        /** Per stage call site: wall ms (submission to completion), result bytes, ms getting results, tasks' run and deserialise ms. */
        private final java.util.Map<String, double[]> wall = new java.util.TreeMap<>();
        private final java.util.Map<Integer, String> names = new java.util.HashMap<>();

        synchronized void reset() {
            nanos.clear();
            wall.clear();
        }

        @Override
        public synchronized void onStageCompleted(org.apache.spark.scheduler.SparkListenerStageCompleted e) {
            var info = e.stageInfo();
            if (info.submissionTime().isEmpty() || info.completionTime().isEmpty()) return;
            wall.computeIfAbsent(names.getOrDefault(info.stageId(), "stage ?"), k -> new double[5])[0] +=
                    (Long) info.completionTime().get() - (Long) info.submissionTime().get();
        }

        @Override
        public synchronized void onStageSubmitted(org.apache.spark.scheduler.SparkListenerStageSubmitted e) {
            String n = e.stageInfo().name();
            names.put(e.stageInfo().stageId(), n.contains(" at ") ? n.substring(n.indexOf(" at ") + 4) : n);
        }

        @Override
        public synchronized void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd e) {
            if (e.taskMetrics() == null) return;
            String n = names.getOrDefault(e.stageId(), "stage ?");
            nanos.merge(n, e.taskMetrics().executorCpuTime(), Long::sum);
            double[] w = wall.computeIfAbsent(n, k -> new double[5]);
            w[1] += e.taskMetrics().resultSize();
            w[3] += e.taskMetrics().executorRunTime();
            w[4] += e.taskMetrics().executorDeserializeTime();
            w[2] += e.taskInfo().gettingResultTime() > 0 ? e.taskInfo().finishTime() - e.taskInfo().gettingResultTime() : 0;
        }

        /**
         * Per stage call site and step: the stage's wall ms, its tasks' run and deserialisation ms (summed over
         * tasks), the KB they returned, ms the driver spent fetching them.
         */
        synchronized String wallPerStep(int steps) {
            StringBuilder sb = new StringBuilder();
            for (var en : wall.entrySet()) {
                double[] w = en.getValue();
                sb.append(String.format(Locale.ROOT, "%s %.1f ms wall (tasks: %.1f ms run, %.1f ms deserialising), %.0f KB results,"
                        + " %.1f ms getting results; ", en.getKey(), w[0] / steps, w[3] / steps, w[4] / steps, w[1] / 1e3 / steps, w[2] / steps));
            }
            return sb.toString();
        }

        synchronized String perStep(int steps) {
            StringBuilder sb = new StringBuilder();
            long total = 0;
            for (var en : nanos.entrySet()) {
                total += en.getValue();
                sb.append(String.format(Locale.ROOT, "%s %.1f, ", en.getKey(), en.getValue() / 1e6 / steps));
            }
            return sb.append(String.format(Locale.ROOT, "total %.1f", total / 1e6 / steps)).toString();
        }
    }
}
