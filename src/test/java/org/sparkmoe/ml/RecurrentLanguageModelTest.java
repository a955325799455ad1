package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.Tokenizer;
import org.sparkmoe.data.Vocabulary;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

import scala.Tuple2;

/**
 * The estimator and model for the paper's recurrent language model (lmModel lstm-moe, and the table-7
 * baselines lstm and moe-1-wide): fit on the sequence engine, per-document transform carrying the LSTM
 * state through each document, the same held-out perplexity as the engine's evaluation (what the job's
 * evaluate reports), job-group nesting.
 */
class RecurrentLanguageModelTest {
    static Dataset<Row> train;
    static Dataset<Row> heldOut;
    static MoELanguageModel model;

    static MoELanguageModelEstimator estimator(String kind) {
        return new MoELanguageModelEstimator().setLmModel(kind).setSeqLength(8).setStreams(4).setDropout(0.1).setVocabularySize(100)
                .setModelDim(16).setNumExperts(4).setK(2).setExpertHiddenSize(16).setMaxSteps(40).setStepSize(0.02).setSeed(5);
    }

    @BeforeAll
    static void fit() {
        train = MoELanguageModelTest.docs(0, 200, 2).cache();
        heldOut = MoELanguageModelTest.docs(100_000, 40, 2).cache();
        model = estimator("lstm-moe").setPredictionCol("next").fit(train);
    }

    @Test
    void fitsTheRecurrentModelWithASummaryAndTheNetworkParams() {
        RecurrentSpec r = model.recurrentSpec().orElseThrow();
        assertEquals("lstm-moe", r.kind());
        assertEquals(8, r.seqLength());
        assertEquals(4, r.streams());
        assertEquals(4, model.parameters().experts().length);
        assertTrue(model.isRecurrent());
        assertEquals("lstm-moe", model.getLmModel());
        MoETrainingSummary s = model.summary();
        assertEquals(40, s.totalIterations());
        double first = (s.taskLoss()[0] + s.taskLoss()[1]) / 2, last = (s.taskLoss()[38] + s.taskLoss()[39]) / 2;
        assertTrue(last < first, "task loss " + first + " -> " + last);
        assertTrue(s.cvLoad()[39] >= 0);
        String text = model.toString();
        for (String part : List.of("lmModel=lstm-moe", "seqLength=8", "streams=4", "numExperts=4", "d=16")) assertTrue(text.contains(part), text);
        assertThrows(UnsupportedOperationException.class, () -> model.toDistributed(2));
    }

    @Test
    void transformScoresEachDocumentAndTheEvaluatorGivesTheEnginesHeldOutPerplexity() {
        Vocabulary v = model.vocabulary();
        Dataset<Row> scored = model.transform(heldOut).cache();
        double ppl = new MoEPerplexityEvaluator().evaluate(scored);
        assertTrue(ppl > 1 && ppl < v.size() / 2.0, "held-out perplexity " + ppl + " vs uniform " + v.size());
        assertEquals(ppl, model.perplexity(heldOut), 1e-12 * ppl);

        // what the job's evaluate computes for the same parameters and documents: the engine's held-out evaluation
        LanguageModelData enc = new LanguageModelData(v, Tokenizer.defaults(), 1);
        List<Tuple2<Long, int[]>> docs = new ArrayList<>();
        long k = 0;
        for (Row row : heldOut.orderBy("id").collectAsList()) docs.add(new Tuple2<>(k++, enc.encode(row.getString(1))));
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(MlTestData.spark().sparkContext());
        JavaPairRDD<Long, int[]> rdd = sc.parallelizePairs(docs, 3);
        RecurrentSpec r = model.recurrentSpec().orElseThrow();
        SparkSequenceTrainer.Evaluation e = SparkSequenceTrainer.evaluate(sc, r.model(model.spec()), model.parameters(),
                model.parameters().shared().precision(), r.seqLength(), Vocabulary.EOS_ID, rdd, r.streams());
        assertEquals(e.tokens(), scored.agg(functions.sum("numTargets")).head().getLong(0));
        assertEquals(e.perplexity(), ppl, 1e-5 * ppl, "transform + evaluator vs the engine's evaluation");

        // per document: n + 1 targets, and the numbers do not depend on how documents share windows or partitions
        Row first = scored.orderBy("id").head();
        int n = Tokenizer.defaults().tokens(first.getString(first.fieldIndex("text"))).size();
        assertEquals(n + 1, first.getInt(first.fieldIndex("numTargets")));
        String next = first.getString(first.fieldIndex("next"));
        assertTrue(v.contains(next) || next.equals(Vocabulary.EOS), next);
        double[] a = MoELanguageModelTest.column(scored, "logLikelihood");
        double[] b = MoELanguageModelTest.column(model.transform(heldOut.repartition(1)), "logLikelihood");
        double[] c = MoELanguageModelTest.column(model.copy(org.apache.spark.ml.param.ParamMap.empty()).setStreams(1)
                .transform(heldOut.repartition(3)), "logLikelihood");
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 1e-4 * Math.abs(a[i]), "document " + i);
            assertEquals(a[i], c[i], 1e-4 * Math.abs(a[i]), "document " + i);
        }
        scored.unpersist();
    }

    @Test
    void theBaselinesFitSaveAndLoadAndAFitNestsInTheCallersJobGroup(@TempDir Path tmp) throws Exception {
        List<String[]> jobs = Collections.synchronizedList(new ArrayList<>());
        SparkListener l = new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart e) {
                jobs.add(new String[] {e.properties().getProperty(Fitting.JOB_GROUP), e.properties().getProperty(Fitting.JOB_DESCRIPTION)});
            }
        };
        org.apache.spark.SparkContext sc = MlTestData.spark().sparkContext();
        sc.addSparkListener(l);
        MoELanguageModel lstm, wide;
        try {
            sc.setJobGroup("rnn-paragraph", "my paragraph", false);
            lstm = estimator("lstm").setMaxSteps(3).fit(train);
            assertEquals("rnn-paragraph", sc.getLocalProperty(Fitting.JOB_GROUP));
            assertEquals("my paragraph", sc.getLocalProperty(Fitting.JOB_DESCRIPTION));
            sc.listenerBus().waitUntilEmpty();
        } finally {
            sc.removeSparkListener(l);
            sc.clearJobGroup();
        }
        assertTrue(jobs.size() >= 6, "jobs seen: " + jobs.size());
        for (String[] j : jobs) {
            assertEquals("rnn-paragraph", j[0]);
            assertTrue(j[1].startsWith("my paragraph > MoELanguageModelEstimator "), j[1]);
        }
        assertTrue(jobs.stream().anyMatch(j -> j[1].contains(" fit step 3/3 > spark-moe sequence step 3")), "a job labelled with its step");

        assertEquals(0, lstm.parameters().experts().length);
        assertTrue(Double.isNaN(lstm.summary().cvLoad()[2]), "no MoE, no load");
        wide = estimator("moe-1-wide").setMaxSteps(3).fit(train);
        assertEquals(1, wide.parameters().experts().length);
        for (MoELanguageModel m : List.of(lstm, wide)) {
            double ppl = m.perplexity(heldOut);
            assertTrue(ppl > 1 && Double.isFinite(ppl), m.getLmModel() + " perplexity " + ppl);
            assertTrue(m.toString().contains("lmModel=" + m.getLmModel()), m.toString());
        }
        assertTrue(!lstm.isDistributed());
        String path = tmp.resolve("lstm").toString();
        lstm.write().save(path);
        MoELanguageModel again = MoELanguageModel.load(path);
        assertEquals("lstm", again.getLmModel());
        assertEquals(lstm.perplexity(heldOut), again.perplexity(heldOut));
    }

    @Test
    void saveAndLoadThroughTheOneModelLayout(@TempDir Path tmp) throws Exception {
        String path = tmp.resolve("rnn").toString();
        model.write().save(path);
        ModelDirectory.Saved saved = ModelDirectory.openRecurrent(path, MlTestData.spark()).orElseThrow();
        assertEquals("lstm-moe", saved.spec().recurrent().kind());
        assertEquals(model.recurrentSpec().orElseThrow(), saved.spec().recurrent());
        assertTrue(Files.isDirectory(tmp.resolve("rnn").resolve("metadata")) && Files.isRegularFile(tmp.resolve("rnn").resolve("vocabulary.txt")));

        MoELanguageModel loaded = MoELanguageModel.load(path);
        assertEquals(model.uid(), loaded.uid());
        assertEquals(model.recurrentSpec(), loaded.recurrentSpec());
        assertEquals(model.spec(), loaded.spec());
        assertEquals(model.vocabulary(), loaded.vocabulary());
        assertEquals("next", loaded.getPredictionCol());
        assertEquals(8, loaded.getSeqLength());
        org.sparkmoe.core.linalg.Matrix x = model.parameters().shared().flat(), y = loaded.parameters().shared().flat();
        assertEquals(x.size(), y.size());
        for (int i = 0; i < x.size(); i++) assertEquals(x.getFlat(i), y.getFlat(i), "shared parameter " + i);
        Dataset<Row> a = model.transform(heldOut), b = loaded.transform(heldOut);
        assertArrayEquals(MoELanguageModelTest.column(a, "logLikelihood"), MoELanguageModelTest.column(b, "logLikelihood"));
        assertEquals(a.orderBy("id").select("next").collectAsList(), b.orderBy("id").select("next").collectAsList());
        assertEquals(model.perplexity(heldOut), loaded.perplexity(heldOut));

        var e = assertThrows(RuntimeException.class, () -> MoEClassificationModel.load(path));
        assertTrue(e.getMessage().contains("MoELanguageModel"), e.getMessage());
        MoELanguageModelEstimator est = estimator("moe-1-wide").setStreams(7);
        est.save(tmp.resolve("est").toString());
        MoELanguageModelEstimator est2 = MoELanguageModelEstimator.load(tmp.resolve("est").toString());
        assertEquals("moe-1-wide", est2.getLmModel());
        assertEquals(7, est2.getStreams());
        assertEquals(0.1, est2.getDropout());
    }

    /** The job's evaluate and score of the saved model: the same numbers as transform (one scoring pass, app.RecurrentScorer). */
    @Test
    void theJobsEvaluateAndScoreOfTheSavedModelAgreeWithTransform(@TempDir Path tmp) throws Exception {
        String path = tmp.resolve("rnn").toString();
        model.write().save(path);
        Path text = tmp.resolve("heldout.txt");
        Files.write(text, heldOut.orderBy("id").collectAsList().stream().map(r -> r.getString(1)).toList());
        Dataset<Row> scored = model.transform(heldOut).cache();
        double ppl = new MoEPerplexityEvaluator().evaluate(scored);

        Path eval = tmp.resolve("eval.json");
        assertEquals(0, job("evaluate", "job.model=" + path, "heldout.path=" + text, "evaluate.output=" + eval));
        com.fasterxml.jackson.databind.JsonNode e = new com.fasterxml.jackson.databind.ObjectMapper().readTree(eval.toFile());
        assertEquals(scored.agg(functions.sum("numTargets")).head().getLong(0), e.get("tokens").asLong());
        assertEquals(ppl, e.get("perplexity").asDouble(), 1e-5 * ppl, "the job's evaluate vs transform + MoEPerplexityEvaluator");

        Path scores = tmp.resolve("scores");
        assertEquals(0, job("score", "job.model=" + path, "heldout.path=" + text, "score.output=" + scores, "score.topK=1"));
        java.util.Map<Long, Double> perDocument = new java.util.TreeMap<>();
        for (Row r : MlTestData.spark().read().parquet(scores.toString()).collectAsList()) {
            perDocument.merge(r.getLong(r.fieldIndex("document")), Math.log(r.getDouble(r.fieldIndex("labelProbability"))), Double::sum);
        }
        double[] job = perDocument.values().stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double[] ml = java.util.Arrays.stream(MoELanguageModelTest.column(scored, "logLikelihood")).sorted().toArray();
        assertEquals(ml.length, job.length, "documents");
        for (int i = 0; i < ml.length; i++) assertEquals(ml[i], job[i], 1e-6 * Math.abs(ml[i]), "document log-likelihood " + i);
        scored.unpersist();
    }

    private static int job(String... args) {
        return org.sparkmoe.job.MoEJob.run(org.sparkmoe.engine.SparkTestContext.get(), System.out, args);
    }

    @Test
    void aWarmStartContinuesFromTheInitialModelsParametersAndVocabulary() {
        MoELanguageModel more = estimator("lstm-moe").setMaxSteps(2).setStepSize(1e-9).setInitialModel(model).fit(heldOut);
        assertEquals(model.vocabulary(), more.vocabulary());
        // two steps at a vanishing rate: (almost) the initial model, far from a fresh one
        double before = model.perplexity(heldOut), after = more.perplexity(heldOut);
        assertEquals(before, after, 1e-3 * before);
        double fresh = estimator("lstm-moe").setMaxSteps(2).setStepSize(1e-9).fit(heldOut).perplexity(heldOut);
        assertTrue(fresh > 1.2 * before, "fresh " + fresh + " vs warm-started " + after);
    }

    @Test
    void badParamsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> estimator("lstm").setStreams(500).setMaxSteps(1).fit(train));
        assertTrue(e.getMessage().contains("param streams (500)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> estimator("lstm").setLmModel("gru"));
        e = assertThrows(IllegalArgumentException.class, () -> estimator("lstm").setInitialModel(model).setMaxSteps(1).fit(train));
        assertTrue(e.getMessage().contains("initialModelPath") && e.getMessage().contains("lmModel lstm-moe"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> estimator("lstm-moe").setModelDim(8).setInitialModel(model).setMaxSteps(1).fit(train));
        assertTrue(e.getMessage().contains("initialModelPath") && e.getMessage().contains("shape"), e.getMessage());
        var routing = assertThrows(RuntimeException.class,
                () -> estimator("lstm-moe").setRouting("local").setPlacement("sharded").setMaxSteps(1).fit(train));
        assertTrue(routing.getMessage().contains("param routing") && routing.getMessage().contains("param placement")
                && routing.getMessage().contains("lmModel"), routing.getMessage());
    }
}
