package org.sparkmoe.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.SparkTestContext;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The job's subcommands end to end, in process, on tiny models. */
class MoEJobTest {
    static final List<String> TINY_LM = List.of("model.vocabularySize=24", "model.context=2", "model.embeddingDim=4",
            "model.modelDim=8", "model.expertHiddenSize=8", "model.numExperts=4", "model.k=2", "engine.batchSize=96",
            "synthetic.documents=40", "synthetic.documentLength=12", "synthetic.domains=2", "input.partitions=2",
            "optim.maxSteps=4", "optim.warmupSteps=2", "checkpoint.interval=2", "heldout.fraction=0.25");
    static final ObjectMapper JSON = new ObjectMapper();

    record Run(int code, String out) {
    }

    static Run job(String cmd, List<String> base, String... more) {
        JavaSparkContext sc = SparkTestContext.get();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>();
        args.add(cmd);
        args.addAll(base);
        args.addAll(Arrays.asList(more));
        int code;
        try (PrintStream ps = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            code = MoEJob.run(sc, ps, args.toArray(new String[0]));
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        System.out.println(out);
        return new Run(code, out);
    }

    static List<String> visible(Path dir) throws Exception {
        if (!Files.exists(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
        }
    }

    @Test
    void trainEvaluateScoreInspectOnTheBuiltInCorpus(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        Run t = job("train", TINY_LM, "output.dir=" + out);
        assertEquals(0, t.code(), t.out());
        assertTrue(t.out().contains("step 4/4"), t.out());
        Path model = out.resolve("model");
        for (String f : List.of("spec.json", "summary.json", "metrics.jsonl", "vocabulary.txt", "charts/loss.png", "charts/expert-load.png")) {
            assertTrue(Files.isRegularFile(model.resolve(f)), f);
        }
        assertTrue(Files.isDirectory(out.resolve("checkpoints")));
        JsonNode s = JSON.readTree(model.resolve("summary.json").toFile());
        double ppl = s.get("heldout").get("perplexity").asDouble();
        assertTrue(ppl > 1 && ppl < 30, "perplexity " + ppl);
        assertTrue(s.get("perplexityFloor").asDouble() > 1);
        assertTrue(s.has("specialisationNmi") && s.has("cvImportance") && s.has("tokensPerSecond"));
        assertTrue(s.get("parametersTotal").asLong() > s.get("parametersActivePerExample").asLong());
        assertEquals(26, Files.readAllLines(model.resolve("vocabulary.txt")).size() + 2); // 24 tokens

        // same spec again: resumes (nothing left to train), republishes
        Run again = job("train", TINY_LM, "output.dir=" + out);
        assertEquals(0, again.code(), again.out());
        assertTrue(again.out().contains("resuming at step 4"), again.out());

        Run ev = job("evaluate", List.of(), "job.model=" + out, "evaluate.output=" + tmp.resolve("eval.json"));
        assertEquals(0, ev.code(), ev.out());
        JsonNode e = JSON.readTree(tmp.resolve("eval.json").toFile());
        assertEquals(ppl, e.get("perplexity").asDouble(), 1e-9 * ppl);

        Run sc = job("score", List.of(), "job.model=" + model, "score.output=" + tmp.resolve("scores"), "score.experts=true");
        assertEquals(0, sc.code(), sc.out());
        Dataset<Row> df = SparkSession.builder().getOrCreate().read().schema("id BIGINT, prediction INT, probability DOUBLE, experts ARRAY<INT>, gates ARRAY<DOUBLE>").parquet(tmp.resolve("scores").toString());
        // (select: with spark.kryo.registrationRequired Spark cannot ship an ArrayType schema to tasks)
        assertEquals(e.get("examples").asLong(), df.select("id").count());
        assertEquals(df.count(), df.filter("size(experts) = 2 AND size(gates) = 2 AND probability > 0").count());
        assertEquals(List.of("scores"), visible(tmp).stream().filter(n -> n.startsWith("scores")).toList());

        Run in = job("inspect", List.of(), "job.model=" + out);
        assertEquals(0, in.code(), in.out());
        assertTrue(in.out().contains("parametersTotal") && in.out().contains("cvLoad"), in.out());
    }

    @Test
    void regressionOnBuiltInData(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("reg");
        Run t = job("train", List.of("task=regression", "synthetic.examples=2000", "model.modelDim=8", "model.expertHiddenSize=8",
                "model.numExperts=4", "engine.batchSize=128", "optim.maxSteps=3", "input.partitions=2", "charts.enabled=false"),
                "output.dir=" + out);
        assertEquals(0, t.code(), t.out());
        JsonNode s = JSON.readTree(out.resolve("model/summary.json").toFile());
        assertTrue(s.get("heldout").get("rmse").asDouble() > 0);
        Run sc = job("score", List.of(), "job.model=" + out, "score.output=" + tmp.resolve("s.parquet"));
        assertEquals(0, sc.code(), sc.out());
    }

    @Test
    void theDefaultBatchIsSizedFromTheTrainingDataAndAGivenOneWins(@TempDir Path tmp) throws Exception {
        // 80000 examples, 10% held out: about 72000 training examples / 64 = 1125 -> 1024 (a multiple of 512)
        List<String> base = List.of("task=regression", "synthetic.examples=80000", "model.modelDim=4", "model.expertHiddenSize=4",
                "model.numExperts=2", "model.k=1", "optim.maxSteps=1", "input.partitions=2", "charts.enabled=false", "heldout.fraction=0.1");
        Run sized = job("train", base, "output.dir=" + tmp.resolve("sized"));
        assertEquals(0, sized.code(), sized.out());
        assertTrue(sized.out().contains("engine.batchSize data-sized: 1024 examples per step for "), sized.out());
        assertEquals(1024, JSON.readTree(tmp.resolve("sized/model/summary.json").toFile()).get("batchSize").asInt());
        Run given = job("train", base, "output.dir=" + tmp.resolve("given"), "engine.batchSize=512");
        assertEquals(0, given.code(), given.out());
        assertFalse(given.out().contains("data-sized"), given.out());
        assertEquals(512, JSON.readTree(tmp.resolve("given/model/summary.json").toFile()).get("batchSize").asInt());
    }

    @Test
    void anExecutorOutOfMemoryIsToldAsSuchWithWhatToChange() {
        // what the driver sees when an executor dies of an OutOfMemoryError (local-cluster, BENCHMARKS.md configuration 3)
        Exception lost = new org.apache.spark.SparkException("Job aborted due to stage failure: Task 0 in stage 56.0 failed 4 times, most"
                + " recent failure: Lost task 0.2 in stage 56.0 (TID 87) (192.0.2.2 executor 0): ExecutorLostFailure (executor 0 exited"
                + " caused by one of the running tasks) Reason: Command exited with code 52");
        Exception inTask = new org.apache.spark.SparkException("Job aborted due to stage failure: Lost task 0.0 in stage 56.0 (TID 84)"
                + " (192.0.2.2 executor 1): java.lang.OutOfMemoryError: Java heap space");
        for (Throwable e : List.of(lost, inTask, new IllegalStateException("step", new OutOfMemoryError("Java heap space")))) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            int code = MoEJob.failed("train", e, new PrintStream(bytes, true, StandardCharsets.UTF_8));
            String out = bytes.toString(StandardCharsets.UTF_8);
            assertEquals(MoEJob.FAILED, code);
            for (String part : List.of("out of memory", "spark.executor.memory", "engine.batchSize", "engine.expertShards", "Memory: sizing")) {
                assertTrue(out.contains(part), out);
            }
            assertFalse(out.contains("\tat "), "no stack trace: " + out);
        }
        // any other failure keeps its stack trace
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        MoEJob.failed("train", new IllegalStateException("Command exited with code 1"), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertFalse(bytes.toString(StandardCharsets.UTF_8).contains("spark.executor.memory"));
    }

    static Path classificationCsv(Path dir, int rows, boolean bad) throws Exception {
        StringBuilder sb = new StringBuilder("x1,x2,x3,label\n");
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < rows; i++) {
            int y = r.nextInt(3);
            double a = y + 0.3 * r.nextGaussian(), b = -y + 0.3 * r.nextGaussian(), c = r.nextGaussian();
            sb.append(bad && i == 17 ? "NaN" : Double.toString(a)).append(',').append(b).append(',').append(c).append(',').append(y).append('\n');
        }
        Path f = dir.resolve(bad ? "bad.csv" : "train.csv");
        Files.writeString(f, sb.toString());
        return f;
    }

    static final List<String> TINY_FEATURES = List.of("task=classification", "input.format=csv", "model.modelDim=8",
            "model.expertHiddenSize=8", "model.numExperts=4", "engine.batchSize=64", "optim.maxSteps=4", "input.partitions=2",
            "optim.stepSize=0.05");

    @Test
    void classificationFromACsvFile(@TempDir Path tmp) throws Exception {
        Path csv = classificationCsv(tmp, 300, false);
        Path out = tmp.resolve("cls");
        Run t = job("train", TINY_FEATURES, "input.path=" + csv, "output.dir=" + out);
        assertEquals(0, t.code(), t.out());
        JsonNode s = JSON.readTree(out.resolve("model/summary.json").toFile());
        assertTrue(s.get("heldout").get("accuracy").asDouble() >= 0 && s.get("heldout").has("logLoss"));
        Run ev = job("evaluate", List.of("input.format=csv"), "input.path=" + csv, "job.model=" + out);
        assertEquals(0, ev.code(), ev.out());
        assertTrue(ev.out().contains("\"accuracy\"") && ev.out().contains("\"examples\" : 300"), ev.out());

        // a fixed holdout file: trained on all of train.csv, evaluated on all of holdout.csv
        Path holdout = classificationCsv(Files.createDirectories(tmp.resolve("hold")), 40, false);
        Path out2 = tmp.resolve("cls2");
        Run t2 = job("train", TINY_FEATURES, "input.path=" + csv, "heldout.path=" + holdout, "output.dir=" + out2);
        assertEquals(0, t2.code(), t2.out());
        assertEquals(40, JSON.readTree(out2.resolve("model/summary.json").toFile()).get("heldout").get("examples").asLong());
        Run sc = job("score", List.of("input.format=csv"), "input.path=" + csv, "job.model=" + out, "score.output=" + tmp.resolve("p"));
        assertEquals(0, sc.code(), sc.out());
        assertEquals(300, SparkSession.builder().getOrCreate().read().schema("id BIGINT").parquet(tmp.resolve("p").toString()).count());
        Run in = job("inspect", List.of(), "job.model=" + out);
        assertEquals(0, in.code(), in.out());

        Path bad = classificationCsv(tmp, 50, true);
        Run b = job("train", TINY_FEATURES, "input.path=" + bad, "output.dir=" + tmp.resolve("badrun"));
        assertEquals(2, b.code(), b.out());
        assertTrue(b.out().contains("bad.csv") && b.out().contains("x1"), b.out());
        assertFalse(Files.exists(tmp.resolve("badrun/model")));
    }

    @Test
    void languageModelFromTextFiles(@TempDir Path tmp) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 120; i++) sb.append("the cat sat on the mat . a dog ran to the park ").append(i % 7).append('\n');
        Path f = tmp.resolve("corpus.txt");
        Files.writeString(f, sb.toString());
        Path out = tmp.resolve("lm");
        Run t = job("train", TINY_LM, "input.path=" + f, "output.dir=" + out);
        assertEquals(0, t.code(), t.out());
        Run ev = job("evaluate", List.of(), "input.path=" + f, "job.model=" + out, "heldout.fraction=0.25");
        assertEquals(0, ev.code(), ev.out());
        assertTrue(ev.out().contains("perplexity"), ev.out());
        Files.writeString(tmp.resolve("empty.txt"), "");
        Run e = job("train", TINY_LM, "input.path=" + tmp.resolve("empty.txt"), "output.dir=" + tmp.resolve("e"));
        assertEquals(2, e.code(), e.out());
        assertTrue(e.out().contains("empty.txt"), e.out());
    }

    @Test
    void publishReplacesAtomicallyAndLeavesNoTemporaries(@TempDir Path tmp) throws Exception {
        org.apache.hadoop.conf.Configuration conf = new org.apache.hadoop.conf.Configuration();
        org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(tmp.resolve("m").toUri());
        for (String v : List.of("one", "two")) {
            org.apache.hadoop.fs.Path t = org.sparkmoe.app.Publish.tempSibling(target, conf);
            org.sparkmoe.app.Publish.writeText(new org.apache.hadoop.fs.Path(t, "x"), v, conf);
            org.sparkmoe.app.Publish.publish(t, target, conf);
            assertEquals(v, Files.readString(tmp.resolve("m/x")));
        }
        assertEquals(List.of("m"), visible(tmp));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of("m"), s.map(p -> p.getFileName().toString()).filter(n -> n.contains("tmp") || n.contains("old")
                    || n.equals("m")).toList());
        }
    }

    @Test
    void badInputExitsTwoAndPublishesNothing(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("bad");
        String[][] cases = {
            {"model.k=5", "model.k"},
            {"model.k=0", "model.k"},
            {"model.vocabularySize=2", "model.vocabularySize"},
            {"model.expertz=3", "model.expertz"},
            {"input.path=" + tmp.resolve("missing.txt"), "missing.txt"},
            {"engine.batchSize=-1", "engine.batchSize"},
        };
        for (String[] c : cases) {
            Run r = job("train", TINY_LM, "output.dir=" + out, c[0]);
            assertEquals(2, r.code(), c[0] + ": " + r.out());
            assertTrue(r.out().contains(c[1]), r.out());
            assertFalse(Files.exists(out.resolve("model")), c[0]);
        }
        assertEquals(2, job("frobnicate", List.of()).code());
        assertEquals(2, MoEJob.run(SparkTestContext.get(), System.out));
        assertEquals(2, job("evaluate", List.of(), "job.model=" + tmp.resolve("nothing")).code());
    }

    @Test
    void outputHoldingADifferentModelIsLeftUntouched(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        List<String> small = new ArrayList<>(TINY_LM);
        small.add("optim.maxSteps=2");
        assertEquals(0, job("train", small, "output.dir=" + out).code());
        byte[] spec = Files.readAllBytes(out.resolve("model/spec.json"));
        long params = Files.walk(out.resolve("model")).count();
        Run r = job("train", small, "output.dir=" + out, "model.numExperts=6");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains("different model") && r.out().contains("experts"), r.out());
        assertTrue(Arrays.equals(spec, Files.readAllBytes(out.resolve("model/spec.json"))));
        assertEquals(params, Files.walk(out.resolve("model")).count());
    }

    @Test
    void retrainPublishesRejectsIsIdempotentAndFailsCleanly(@TempDir Path tmp) throws Exception {
        Path root = tmp.resolve("pub");
        List<String> base = new ArrayList<>(TINY_LM);
        base.add("retrain.root=" + root);
        base.add("charts.enabled=false");
        Run first = job("retrain", base, "retrain.date=2026-01-01");
        assertEquals(0, first.code(), first.out());
        assertEquals("v-2026-01-01", Files.readString(root.resolve("LATEST")).trim());
        assertTrue(Files.isRegularFile(root.resolve("v-2026-01-01/spec.json")));

        Run again = job("retrain", base, "retrain.date=2026-01-01");
        assertEquals(0, again.code(), again.out());
        assertTrue(again.out().contains("already published"), again.out());

        Run second = job("retrain", base, "retrain.date=2026-01-02", "synthetic.seed=99");
        assertEquals(0, second.code(), second.out());
        assertTrue(second.out().contains("warm start from"), second.out());
        assertEquals("v-2026-01-02", Files.readString(root.resolve("LATEST")).trim());

        Run rejected = job("retrain", base, "retrain.date=2026-01-03", "bar.maxPerplexity=1.0001");
        assertEquals(3, rejected.code(), rejected.out());
        assertFalse(Files.exists(root.resolve("v-2026-01-03")));
        assertEquals("v-2026-01-02", Files.readString(root.resolve("LATEST")).trim());

        Run failed = job("retrain", base, "retrain.date=2026-01-04", "optim.stepSize=1e300", "optim.clipNorm=0");
        assertEquals(1, failed.code(), failed.out());
        assertFalse(Files.exists(root.resolve("v-2026-01-04")));
        assertEquals("v-2026-01-02", Files.readString(root.resolve("LATEST")).trim());

        Run badCfg = job("retrain", base, "retrain.date=2026-01-05", "model.numExperts=6");
        assertEquals(2, badCfg.code(), badCfg.out());
        assertEquals(List.of("LATEST", "v-2026-01-01", "v-2026-01-02"), visible(root));
    }
}
