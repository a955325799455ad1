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
 * <p>Two modes. In-JVM (the default): both models on one SparkContext, {@code rounds} times. Forked
 * ({@code pairs=R}): 2R child JVMs started with this JVM's arguments and classpath, MoE, dense, MoE, dense,
 * ..., each running one model on its own SparkContext, so that neither model's JIT profile, heap or
 * warm-up is the other's; prints per JVM the median step time, the gate and experts task times, the task
 * CPU and the allocation per step, then every pair's ratio, the ratio of the medians of the JVMs' medians,
 * and each JVM's per-step times (to check that steps after {@code skip} are steady).
 *
 * <p>Arguments (key=value): input (a glob of Brown files, required), steps=30, skip=5, rounds=1,
 * alternate=false (true: the dense run first in even rounds), pairs=0 (forked mode when positive),
 * model=moe|dense (one model only: what a forked child runs),
 * then any job keys (e.g. engine.batchSize=2048) passed to both runs.
 */
public final class LmJobComparison {

    /** The MoE's and the dense baseline's model keys. */
    private static final List<String> MOE = List.of("model.numExperts=32", "model.k=2", "model.expertHiddenSize=128");
    private static final List<String> DENSE = List.of("model.gating=softmax", "model.numExperts=1", "model.expertHiddenSize=256",
            "engine.expertShards=1");
    private static final String[] NAMES = {"MoE n=32 k=2 h=128", "dense h=256"};
    /** Prefix of the one line a child JVM prints for its parent. */
    private static final String RESULT = "LMJOB-RESULT\t";

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        String input = a.string("input", "");
        if (input.isEmpty()) throw new IllegalArgumentException("input=<glob of the Brown corpus files> is required");
        int pairs = a.integer("pairs", 0);
        if (pairs > 0) {
            forked(args, pairs, a.integer("skip", 5));
            return;
        }
        int steps = a.integer("steps", 30);
        int skip = a.integer("skip", 5);
        int rounds = a.integer("rounds", 1);
        // alternate=true: the dense run goes first in even rounds, so that neither model always pays for
        // the JVM's first steps (JIT, heap growth and its first-touch page faults) after the other's
        boolean alternate = Boolean.parseBoolean(a.string("alternate", "false"));
        String only = a.string("model", "");
        List<String> extra = new ArrayList<>();
        for (String s : args) {
            String k = s.substring(0, Math.max(0, s.indexOf('=')));
            if (k.contains(".")) extra.add(s);
        }
        List<String> common = new ArrayList<>(List.of("input.path=" + input, "input.documentPerFile=true", "input.stripTags=true",
                "model.vocabularySize=4000", "model.modelDim=64", "optim.maxSteps=" + steps, "checkpoint.interval=1000000"));
        common.addAll(extra);

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
        if (!only.isEmpty()) {
            // a child of the forked mode: one model in this JVM, one result line for the parent
            int m = only.equals("moe") ? 0 : 1;
            Run run = run(sc, cpu, root.resolve("m" + m), common, m, skip);
            System.out.println(run.detail(1));
            System.out.println(RESULT + run.encode());
            spark.stop();
            return;
        }
        List<String> details = new ArrayList<>();
        System.out.println("| round | model | batch | step ms (median) | tokens/s | load average |");
        System.out.println("|---:|---|---:|---:|---:|---:|");
        for (int r = 1; r <= rounds; r++) {
            double[] ms = new double[2];
            for (int i = 0; i < 2; i++) {
                int m = alternate && r % 2 == 0 ? 1 - i : i;
                Run run = run(sc, cpu, root.resolve("r" + r + "-" + m), common, m, skip);
                details.add(run.detail(r));
                ms[m] = run.medianMs;
                System.out.printf(Locale.ROOT, "| %d | %s | %d | %.0f | %,.0f | %s |%n", r, run.name, run.batch, ms[m],
                        1000.0 * run.batch / ms[m], EngineBenchmark.loadAverage());
            }
            System.out.printf(Locale.ROOT, "| %d | MoE / dense | | %.2fx | | |%n", r, ms[0] / ms[1]);
        }
        System.out.println();
        details.forEach(System.out::println);
        spark.stop();
    }

    /** One model's training run on {@code sc}: the job's metrics.jsonl read back, the listener's CPU and the threads' allocation. */
    private static Run run(JavaSparkContext sc, StageCpu cpu, Path out, List<String> common, int m, int skip) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("train", "output.dir=" + out));
        cmd.addAll(common);
        cmd.addAll(m == 0 ? MOE : DENSE);
        cpu.reset();
        long alloc0 = EngineBenchmark.allocatedBytes();
        int rc = MoEJob.run(sc, new PrintStream(new java.io.ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                cmd.toArray(new String[0]));
        if (rc != 0) throw new IllegalStateException(NAMES[m] + ": the job exited " + rc);
        double allocMb = (EngineBenchmark.allocatedBytes() - alloc0) / 1e6;
        List<Double> all = new ArrayList<>();
        List<Double> stepMs = new ArrayList<>();
        java.util.Map<String, List<Double>> phases = new java.util.LinkedHashMap<>();
        long batch = 0;
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            StepMetrics sm = StepMetrics.parse(line);
            batch = sm.examples();
            double ms = 1000.0 * sm.examples() / sm.tokensPerSecond();
            all.add(ms);
            if (sm.step() > skip) {
                stepMs.add(ms);
                sm.timingsMs().forEach((k, v) -> phases.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
            }
        }
        int ran = all.size();
        java.util.Map<String, Double> phaseMedians = new java.util.LinkedHashMap<>();
        phases.forEach((k, v) -> phaseMedians.put(k, median(v)));
        return new Run(m, NAMES[m], batch, median(stepMs), all, phaseMedians, cpu.stepMedians(ran, skip), allocMb / ran,
                cpu.perStep(ran), cpu.wallPerStep(ran), EngineBenchmark.loadAverage());
    }

    /**
     * {@code pairs} pairs of child JVMs (this JVM's arguments and classpath), MoE then dense, one model a JVM, so that
     * neither model's JIT profile or heap is shaped by the other's and every JVM pays its own warm-up (in steps
     * 1-skip). Prints each JVM's result as it ends, then every pair's ratio and the ratio of the medians of the
     * JVMs' medians.
     */
    private static void forked(String[] args, int pairs, int skip) throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> jvm = new ArrayList<>(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        jvm.removeIf(s -> s.startsWith("-agentpath") || s.startsWith("-XX:StartFlightRecording"));
        List<String> childArgs = new ArrayList<>();
        for (String s : args) if (!s.startsWith("pairs=") && !s.startsWith("model=") && !s.startsWith("rounds=")) childArgs.add(s);
        System.out.printf(Locale.ROOT, "%d pairs of JVMs (MoE, dense), each model in its own JVM; child arguments %s; load average %s%n%n",
                pairs, String.join(" ", childArgs), EngineBenchmark.loadAverage());
        System.out.println("| JVM | model | batch | step ms (median) | gate / experts task ms (median) | step stages' task CPU ms (median)"
                + " | MB allocated/step (median) | load at start, end |");
        System.out.println("|---:|---|---:|---:|---|---:|---:|---|");
        List<Run> runs = new ArrayList<>();
        List<String> details = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int p = 0; p < 2 * pairs; p++) {
            int m = p % 2;
            List<String> cmd = new ArrayList<>();
            cmd.add(javaBin);
            cmd.addAll(jvm);
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(LmJobComparison.class.getName());
            cmd.addAll(childArgs);
            cmd.add("model=" + (m == 0 ? "moe" : "dense"));
            String loadBefore = EngineBenchmark.loadAverage();
            Path log = Files.createTempFile("lm-job-comparison-jvm" + (p + 1) + "-", ".log");
            Process proc = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
            Run run = null;
            StringBuilder detail = new StringBuilder();
            try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.startsWith(RESULT)) run = Run.decode(line.substring(RESULT.length()));
                    else if (line.startsWith("round ") || line.startsWith("  ")) detail.append(line).append('\n');
                }
            }
            int rc = proc.waitFor();
            if (rc != 0 || run == null) throw new IllegalStateException("JVM " + (p + 1) + " (" + NAMES[m] + ") exited " + rc + ": see " + log);
            Files.delete(log);
            runs.add(run);
            details.add("JVM " + (p + 1) + ": " + detail.toString().replaceFirst("^round 1, ", "").trim());
            System.out.printf(Locale.ROOT, "| %d | %s | %d | %.0f | %.1f / %.1f | %.1f | %.1f | %s, %s |%n", p + 1, run.name, run.batch,
                    run.medianMs, run.phaseMedians.getOrDefault(StepMetrics.GATE, Double.NaN),
                    run.phaseMedians.getOrDefault(StepMetrics.EXPERTS, Double.NaN), run.stepStages.getOrDefault("total", Double.NaN),
                    run.stepStages.getOrDefault("alloc", Double.NaN), loadBefore, run.load);
        }
        System.out.println();
        List<Double> moe = new ArrayList<>(), dense = new ArrayList<>(), moeCpu = new ArrayList<>(), denseCpu = new ArrayList<>();
        StringBuilder ratios = new StringBuilder(), cpuRatios = new StringBuilder();
        for (int p = 0; p < pairs; p++) {
            Run a = runs.get(2 * p), b = runs.get(2 * p + 1);
            moe.add(a.medianMs);
            dense.add(b.medianMs);
            double ca = a.stepStages.getOrDefault("total", Double.NaN), cb = b.stepStages.getOrDefault("total", Double.NaN);
            moeCpu.add(ca);
            denseCpu.add(cb);
            ratios.append(String.format(Locale.ROOT, "%s%.2fx", p == 0 ? "" : ", ", a.medianMs / b.medianMs));
            cpuRatios.append(String.format(Locale.ROOT, "%s%.2fx", p == 0 ? "" : ", ", ca / cb));
        }
        System.out.printf(Locale.ROOT, "MoE / dense per pair: %s (step stages' task CPU: %s; median of medians %.1f / %.1f ms = %.2fx)%n",
                ratios, cpuRatios, median(moeCpu), median(denseCpu), median(moeCpu) / median(denseCpu));
        System.out.printf(Locale.ROOT, "MoE / dense, median of the JVMs' medians: %.0f / %.0f ms = %.2fx (mean of medians %.2fx); %.0f s%n%n",
                median(moe), median(dense), median(moe) / median(dense),
                moe.stream().mapToDouble(x -> x).average().orElse(0) / dense.stream().mapToDouble(x -> x).average().orElse(1),
                (System.nanoTime() - t0) / 1e9);
        System.out.printf(Locale.ROOT, "Per-step ms (steps 1-%d untimed):%n", skip);
        for (int p = 0; p < runs.size(); p++) {
            Run run = runs.get(p);
            StringBuilder sb = new StringBuilder();
            for (double v : run.allMs) sb.append(String.format(Locale.ROOT, " %.0f", v));
            System.out.printf(Locale.ROOT, "JVM %d %s:%s%n", p + 1, run.name, sb);
        }
        System.out.println();
        details.forEach(System.out::println);
    }

    /** One model's run: what a child JVM hands its parent (tab-separated, '|' within lists). */
    private record Run(int model, String name, long batch, double medianMs, List<Double> allMs, java.util.Map<String, Double> phaseMedians,
            java.util.Map<String, Double> stepStages, double allocMb, String cpuPerStep, String wallPerStep, String load) {

        String detail(int round) {
            StringBuilder d = new StringBuilder(String.format(Locale.ROOT, "round %d, %s (load %s): median task ms per step:", round, name, load));
            phaseMedians.forEach((k, v) -> d.append(String.format(Locale.ROOT, " %s %.1f;", k, v)));
            d.append(String.format(Locale.ROOT, "%n  the step's stages, median task CPU ms per step (MB allocated a step):"));
            stepStages.forEach((k, v) -> d.append(String.format(Locale.ROOT, " %s %.1f;", k, v)));
            d.append(String.format(Locale.ROOT, "%n  whole run, per step (%d steps): MB allocated %.1f; task CPU ms %s", allMs.size(),
                    allocMb, cpuPerStep));
            d.append(String.format(Locale.ROOT, "%n  stages, per step: %s", wallPerStep));
            return d.toString();
        }

        String encode() {
            StringBuilder ms = new StringBuilder();
            for (double v : allMs) ms.append(ms.length() == 0 ? "" : "|").append(v);
            return String.join("\t", Integer.toString(model), Long.toString(batch), Double.toString(medianMs), ms, encode(phaseMedians),
                    encode(stepStages), Double.toString(allocMb), load);
        }

        private static String encode(java.util.Map<String, Double> map) {
            StringBuilder sb = new StringBuilder();
            map.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : "|").append(k).append('=').append(v));
            return sb.toString();
        }

        private static java.util.Map<String, Double> decodeMap(String s) {
            java.util.Map<String, Double> map = new java.util.LinkedHashMap<>();
            if (s.isEmpty()) return map;
            for (String kv : s.split("\\|")) {
                int eq = kv.lastIndexOf('=');
                map.put(kv.substring(0, eq), Double.parseDouble(kv.substring(eq + 1)));
            }
            return map;
        }

        static Run decode(String s) {
            String[] f = s.split("\t", -1);
            int m = Integer.parseInt(f[0]);
            List<Double> all = new ArrayList<>();
            for (String v : f[3].split("\\|")) all.add(Double.parseDouble(v));
            return new Run(m, NAMES[m], Long.parseLong(f[1]), Double.parseDouble(f[2]), all, decodeMap(f[4]), decodeMap(f[5]),
                    Double.parseDouble(f[6]), "", "", f[7]);
        }
    }

    /** The median (the mean of the middle two for an even count). */
    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        int h = s.size() / 2;
        return s.size() % 2 == 1 ? s.get(h) : (s.get(h - 1) + s.get(h)) / 2;
    }

    /** Task CPU time per stage call site (Spark's executorCpuTime), summed since {@link #reset}. */
    private static final class StageCpu extends org.apache.spark.scheduler.SparkListener {
        private final java.util.Map<String, Long> nanos = new java.util.TreeMap<>();
        /** Per stage call site: wall ms (submission to completion), result bytes, ms getting results, tasks' run and deserialise ms. */
        private final java.util.Map<String, double[]> wall = new java.util.TreeMap<>();
        private final java.util.Map<Integer, String> names = new java.util.HashMap<>();
        /** Per call site, per stage in submission order: its tasks' CPU ns; and the JVM's allocated bytes at its submission. */
        private final java.util.Map<String, List<long[]>> stages = new java.util.LinkedHashMap<>();
        private final java.util.Map<Integer, long[]> byId = new java.util.HashMap<>();

        synchronized void reset() {
            nanos.clear();
            wall.clear();
            stages.clear();
            byId.clear();
        }

        /**
         * The step's own stages: the call sites with exactly one stage per step. Per site, the median over steps after
         * {@code skip} of its tasks' CPU ms; then "alloc" (MB the JVM allocated between consecutive submissions of the
         * step's first stage, median after skip) and "total" (the sum of the sites' medians).
         */
        synchronized java.util.Map<String, Double> stepMedians(int steps, int skip) {
            java.util.Map<String, Double> out = new java.util.LinkedHashMap<>();
            double total = 0;
            List<long[]> first = null;
            for (var en : stages.entrySet()) {
                List<long[]> v = en.getValue();
                if (v.size() != steps) continue;
                if (first == null) first = v;
                List<Double> cpu = new ArrayList<>();
                for (int i = skip; i < steps; i++) cpu.add(v.get(i)[0] / 1e6);
                double med = median(cpu);
                out.put(en.getKey(), med);
                total += med;
            }
            out.put("total", total);
            if (first != null && steps > skip + 1) {
                List<Double> alloc = new ArrayList<>();
                for (int i = skip + 1; i < steps; i++) alloc.add((first.get(i)[1] - first.get(i - 1)[1]) / 1e6);
                out.put("alloc", median(alloc));
            }
            return out;
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
            String site = n.contains(" at ") ? n.substring(n.indexOf(" at ") + 4) : n;
            names.put(e.stageInfo().stageId(), site);
            long[] st = {0, EngineBenchmark.allocatedBytes()};
            stages.computeIfAbsent(site, k -> new ArrayList<>()).add(st);
            byId.put(e.stageInfo().stageId(), st);
        }

        @Override
        public synchronized void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd e) {
            if (e.taskMetrics() == null) return;
            String n = names.getOrDefault(e.stageId(), "stage ?");
            nanos.merge(n, e.taskMetrics().executorCpuTime(), Long::sum);
            long[] st = byId.get(e.stageId());
            if (st != null) st[0] += e.taskMetrics().executorCpuTime();
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
