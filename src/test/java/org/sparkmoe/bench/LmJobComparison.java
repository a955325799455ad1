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
 * batch, and the MoE / dense ratio per round.
 *
 * <p>Arguments (key=value): input (a glob of Brown files, required), steps=30, skip=5, rounds=1,
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

        SparkSession spark = SparkSession.builder().config(SparkTestContext.conf("local[2]")).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Path root = Files.createTempDirectory("lm-job-comparison");
        System.out.printf(Locale.ROOT, "steps %d (median over steps %d-%d), %s; load average %s%n%n", steps, skip + 1, steps,
                String.join(" ", extra), EngineBenchmark.loadAverage());
        System.out.println("| round | model | batch | step ms (median) | tokens/s | load average |");
        System.out.println("|---:|---|---:|---:|---:|---:|");
        for (int r = 1; r <= rounds; r++) {
            double[] ms = new double[2];
            for (int m = 0; m < 2; m++) {
                String name = m == 0 ? "MoE n=32 k=2 h=128" : "dense h=256";
                Path out = root.resolve("r" + r + "-" + m);
                List<String> cmd = new ArrayList<>(List.of("train", "output.dir=" + out));
                cmd.addAll(common);
                cmd.addAll(m == 0 ? moe : dense);
                int rc = MoEJob.run(sc, new PrintStream(new java.io.ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                        cmd.toArray(new String[0]));
                if (rc != 0) throw new IllegalStateException(name + ": the job exited " + rc);
                List<Double> stepMs = new ArrayList<>();
                long batch = 0;
                for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
                    StepMetrics sm = StepMetrics.parse(line);
                    batch = sm.examples();
                    if (sm.step() > skip) stepMs.add(1000.0 * sm.examples() / sm.tokensPerSecond());
                }
                stepMs.sort(null);
                ms[m] = stepMs.get(stepMs.size() / 2);
                System.out.printf(Locale.ROOT, "| %d | %s | %d | %.0f | %,.0f | %s |%n", r, name, batch, ms[m], 1000.0 * batch / ms[m],
                        EngineBenchmark.loadAverage());
            }
            System.out.printf(Locale.ROOT, "| %d | MoE / dense | | %.2fx | | |%n", r, ms[0] / ms[1]);
        }
        spark.stop();
    }
}
