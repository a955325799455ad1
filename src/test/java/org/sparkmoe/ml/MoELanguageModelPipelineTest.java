package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.SQLTransformer;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.tuning.CrossValidator;
import org.apache.spark.ml.tuning.CrossValidatorModel;
import org.apache.spark.ml.tuning.ParamGridBuilder;
import org.apache.spark.ml.tuning.TrainValidationSplit;
import org.apache.spark.ml.tuning.TrainValidationSplitModel;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.data.Tokenizer;

/**
 * The language-model estimator as a Spark ML citizen: inside a {@link Pipeline} after an upstream
 * stage, saved and reloaded with {@link PipelineModel#load}, and tuned with
 * {@link TrainValidationSplit} / {@link CrossValidator} through {@link MoEPerplexityEvaluator}.
 */
class MoELanguageModelPipelineTest {
    static final StructType RAW = new StructType().add("id", DataTypes.LongType, false).add("raw", DataTypes.StringType, true);
    static final MarkovMixtureCorpus CORPUS = new MarkovMixtureCorpus(40, 2, 3, 0.05, 30, null, 11);
    /** Strips the markup of the raw documents: without it "<", "p", ">" and "/" would become tokens. */
    static final String STRIP = "SELECT id, regexp_replace(raw, '<[^>]*>', ' ') AS text FROM __THIS__";

    static Dataset<Row> train;
    static Dataset<Row> heldOut;

    /** Corpus documents wrapped in HTML-like markup, as a crawl would deliver them. */
    static Dataset<Row> rawDocs(long from, int count, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (MarkovMixtureCorpus.Document d : CORPUS.documents(from, count)) {
            rows.add(RowFactory.create(d.index(), "<p class=\"doc\">" + d.text() + "</p>"));
        }
        return MlTestData.spark().createDataFrame(rows, RAW).repartition(partitions);
    }

    static MoELanguageModelEstimator estimator() {
        return new MoELanguageModelEstimator().setVocabularySize(100).setContext(2).setEmbeddingDim(8).setModelDim(16)
                .setNumExperts(4).setK(2).setExpertHiddenSize(16).setBatchSize(256).setMaxSteps(40).setStepSize(0.03)
                .setRouting("local").setSeed(3);
    }

    @BeforeAll
    static void data() {
        train = rawDocs(0, 400, 2).cache();
        heldOut = rawDocs(100_000, 100, 2).cache();
    }

    static double[] column(Dataset<Row> scored, String col) {
        return scored.orderBy("id").select(col).collectAsList().stream().mapToDouble(r -> ((Number) r.get(0)).doubleValue()).toArray();
    }

    static void assertSameOutputs(Dataset<Row> a, Dataset<Row> b) {
        assertArrayEquals(column(a, "logLikelihood"), column(b, "logLikelihood"));
        assertArrayEquals(column(a, "perplexity"), column(b, "perplexity"));
        assertArrayEquals(column(a, "numTargets"), column(b, "numTargets"));
    }

    @Test
    void pipelineWithUpstreamStageSavesAndReloadsWithIdenticalOutputs(@TempDir Path tmp) throws IOException {
        SQLTransformer strip = new SQLTransformer().setStatement(STRIP);
        MoELanguageModelEstimator lm = estimator().setPredictionCol("next");
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {strip, lm});
        PipelineModel model = pipeline.fit(train);
        MoELanguageModel fitted = assertInstanceOf(MoELanguageModel.class, model.stages()[1]);
        // the upstream stage ran before the estimator: no markup tokens in the vocabulary
        for (String markup : new String[] {"<", ">", "/", "p", "class", "doc"}) {
            assertFalse(fitted.vocabulary().contains(markup), "vocabulary holds markup token '" + markup + "'");
        }
        assertEquals(42, fitted.vocabulary().size(), "40 corpus words + <unk> + <eos>");

        Dataset<Row> scored = model.transform(heldOut);
        Row first = scored.orderBy("id").head();
        String clean = CORPUS.documents(100_000, 1).get(0).text();
        assertEquals(Tokenizer.defaults().tokens(clean).size() + 1, first.getInt(first.fieldIndex("numTargets")));
        double ppl = fitted.perplexity(new SQLTransformer().setStatement(STRIP).transform(heldOut));
        assertTrue(ppl < fitted.vocabulary().size() / 3.0, "held-out perplexity " + ppl);

        // a first save, then overwrite it: the reloaded pipeline must be the second one
        String path = tmp.resolve("pipeline").toString();
        estimator().setMaxSteps(1).fit(new SQLTransformer().setStatement(STRIP).transform(train)).save(path);
        assertThrows(IOException.class, () -> model.save(path));
        model.write().overwrite().save(path);
        PipelineModel loaded = PipelineModel.load(path);
        assertEquals(2, loaded.stages().length);
        assertInstanceOf(SQLTransformer.class, loaded.stages()[0]);
        MoELanguageModel reloaded = assertInstanceOf(MoELanguageModel.class, loaded.stages()[1]);
        assertEquals(fitted.uid(), reloaded.uid());
        assertEquals(fitted.vocabulary(), reloaded.vocabulary());
        assertEquals("next", reloaded.getPredictionCol());
        Dataset<Row> again = loaded.transform(heldOut);
        assertSameOutputs(scored, again);
        assertEquals(scored.orderBy("id").select("next").collectAsList(), again.orderBy("id").select("next").collectAsList());

        // the unfitted pipeline round-trips too, and refitting it gives the same model (deterministic training)
        pipeline.write().overwrite().save(tmp.resolve("unfitted").toString());
        Pipeline p2 = Pipeline.load(tmp.resolve("unfitted").toString());
        MoELanguageModelEstimator lm2 = assertInstanceOf(MoELanguageModelEstimator.class, p2.getStages()[1]);
        assertEquals(lm.uid(), lm2.uid());
        assertEquals(40, lm2.getMaxSteps());
        assertEquals(2, lm2.getContext());
        assertEquals(STRIP, ((SQLTransformer) p2.getStages()[0]).getStatement());
        assertSameOutputs(scored, p2.fit(train).transform(heldOut));
    }

    @Test
    void evaluatorIsTheCorpusPerplexity(@TempDir Path tmp) throws IOException {
        Dataset<Row> docs = new SQLTransformer().setStatement(STRIP).transform(heldOut);
        MoELanguageModel m = estimator().setMaxSteps(10).fit(new SQLTransformer().setStatement(STRIP).transform(train));
        MoEPerplexityEvaluator eval = new MoEPerplexityEvaluator();
        assertFalse(eval.isLargerBetter());
        double expected = m.perplexity(docs);
        assertEquals(expected, eval.evaluate(m.transform(docs)), 1e-12 * expected);
        // renamed model outputs: the evaluator follows its column params
        Dataset<Row> renamed = m.copy(ParamMap.empty()).setLogLikelihoodCol("ll").setNumTargetsCol("n").setPerplexityCol("").transform(docs);
        assertEquals(expected, eval.copy(ParamMap.empty()).setLogLikelihoodCol("ll").setNumTargetsCol("n").evaluate(renamed), 1e-12 * expected);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> eval.evaluate(renamed));
        assertTrue(e.getMessage().contains("logLikelihoodCol") && e.getMessage().contains("logLikelihood"), e.getMessage());
        assertTrue(Double.isNaN(eval.evaluate(m.transform(docs).limit(0))), "no targets");

        // Java-serializable (Spark serializes the stages of a tuning run), validators included
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(eval);
        }
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            MoEPerplexityEvaluator copy = (MoEPerplexityEvaluator) in.readObject();
            assertEquals(expected, copy.evaluate(m.transform(docs)), 1e-12 * expected);
            assertThrows(IllegalArgumentException.class, () -> copy.setNumTargetsCol(""));
        } catch (ClassNotFoundException ex) {
            throw new AssertionError(ex);
        }

        eval.setNumTargetsCol("targets");
        eval.save(tmp.resolve("eval").toString());
        MoEPerplexityEvaluator back = MoEPerplexityEvaluator.load(tmp.resolve("eval").toString());
        assertEquals(eval.uid(), back.uid());
        assertEquals("targets", back.getNumTargetsCol());
        assertEquals("logLikelihood", back.getLogLikelihoodCol());
    }

    @Test
    void trainValidationSplitOverThePipelinePicksTheLowerPerplexity(@TempDir Path tmp) throws IOException {
        MoELanguageModelEstimator lm = estimator();
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {new SQLTransformer().setStatement(STRIP), lm});
        // one step barely leaves the initialisation (about uniform over 42 words); 40 steps learn the Markov sources
        ParamMap[] grid = new ParamGridBuilder().addGrid(lm.maxSteps(), new int[] {1, 40}).build();
        TrainValidationSplit tvs = new TrainValidationSplit().setEstimator(pipeline).setEstimatorParamMaps(grid)
                .setEvaluator(new MoEPerplexityEvaluator()).setTrainRatio(0.75).setSeed(5);
        TrainValidationSplitModel m = tvs.fit(train);
        double[] metrics = m.validationMetrics();
        System.out.println("TrainValidationSplit validation perplexity: 1 step " + metrics[0] + ", 40 steps " + metrics[1]);
        assertTrue(metrics[1] < metrics[0], "validation perplexity 1 step " + metrics[0] + " vs 40 steps " + metrics[1]);
        PipelineModel best = (PipelineModel) m.bestModel();
        MoELanguageModel bestLm = (MoELanguageModel) best.stages()[1];
        assertEquals(40, bestLm.getMaxSteps());

        // measured independently on held-out documents: the chosen setting has the lower perplexity
        Dataset<Row> docs = new SQLTransformer().setStatement(STRIP).transform(heldOut);
        MoELanguageModel oneStep = (MoELanguageModel) ((PipelineModel) pipeline.fit(train, grid[0])).stages()[1];
        double chosen = bestLm.perplexity(docs);
        double other = oneStep.perplexity(docs);
        System.out.println("held-out perplexity: chosen " + chosen + ", 1 step " + other);
        assertTrue(chosen < other, "chosen " + chosen + " vs 1 step " + other);
        assertEquals(chosen, new MoEPerplexityEvaluator().evaluate(best.transform(heldOut)), 1e-12 * chosen);

        // the tuning model (estimator, evaluator, best pipeline) saves and loads
        String path = tmp.resolve("tvs").toString();
        m.write().overwrite().save(path);
        TrainValidationSplitModel loaded = TrainValidationSplitModel.load(path);
        assertInstanceOf(MoEPerplexityEvaluator.class, loaded.getEvaluator());
        assertArrayEquals(metrics, loaded.validationMetrics());
        assertSameOutputs(best.transform(heldOut), loaded.bestModel().transform(heldOut));
    }

    @Test
    void crossValidatorPicksTheLowerPerplexity() {
        Dataset<Row> docs = new SQLTransformer().setStatement(STRIP).transform(rawDocs(0, 200, 2));
        MoELanguageModelEstimator lm = estimator().setMaxSteps(20);
        ParamMap[] grid = new ParamGridBuilder().addGrid(lm.stepSize(), new double[] {1e-6, 0.03}).build();
        CrossValidator cv = new CrossValidator().setEstimator(lm).setEstimatorParamMaps(grid)
                .setEvaluator(new MoEPerplexityEvaluator()).setNumFolds(2).setSeed(3);
        CrossValidatorModel m = cv.fit(docs);
        double[] metrics = m.avgMetrics();
        System.out.println("CrossValidator mean perplexity: lr 1e-6 " + metrics[0] + ", lr 0.03 " + metrics[1]);
        // the settings fitted concurrently (two threads sharing the SparkContext) give the same numbers
        CrossValidatorModel parallel = cv.copy(ParamMap.empty()).setParallelism(2).fit(docs);
        assertArrayEquals(metrics, parallel.avgMetrics());
        assertTrue(metrics[1] < metrics[0], "perplexity lr 1e-6 " + metrics[0] + " vs 0.03 " + metrics[1]);
        MoELanguageModel best = (MoELanguageModel) m.bestModel();
        assertEquals(0.03, best.getStepSize());

        Dataset<Row> held = new SQLTransformer().setStatement(STRIP).transform(heldOut);
        double chosen = best.perplexity(held);
        double other = lm.fit(docs, grid[0]).perplexity(held);
        System.out.println("held-out perplexity: chosen " + chosen + ", lr 1e-6 " + other);
        assertTrue(chosen < other, "chosen " + chosen + " vs lr 1e-6 " + other);
    }

    @Test
    void estimatorParamsAreCopiedIntoTheGridsModels(@TempDir Path tmp) throws IOException {
        // fit(dataset, paramMap) is what the tuners call: the map's values must reach the model and the saved model
        MoELanguageModelEstimator lm = estimator();
        ParamMap map = new ParamMap().put(lm.maxSteps().w(3)).put(lm.perplexityCol().w("ppl"));
        MoELanguageModel m = lm.fit(new SQLTransformer().setStatement(STRIP).transform(train), map);
        assertEquals(3, m.getMaxSteps());
        assertEquals("ppl", m.getPerplexityCol());
        assertEquals(40, lm.getMaxSteps(), "the estimator itself is unchanged");
        m.save(tmp.resolve("m").toString());
        assertTrue(Files.isDirectory(tmp.resolve("m").resolve("metadata")));
        MoELanguageModel back = MoELanguageModel.load(tmp.resolve("m").toString());
        assertEquals("ppl", back.getPerplexityCol());
        assertTrue(List.of(back.transform(new SQLTransformer().setStatement(STRIP).transform(heldOut)).columns()).contains("ppl"));
    }
}
