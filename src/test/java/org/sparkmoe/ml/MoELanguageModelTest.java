package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
import org.sparkmoe.data.Vocabulary;

class MoELanguageModelTest {
    static final StructType SCHEMA = new StructType().add("id", DataTypes.LongType, false).add("text", DataTypes.StringType, true);
    static final MarkovMixtureCorpus CORPUS = new MarkovMixtureCorpus(40, 2, 3, 0.05, 30, null, 11);
    static Dataset<Row> train;
    static Dataset<Row> heldOut;
    static MoELanguageModel model;

    static Dataset<Row> docs(long from, int count, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (MarkovMixtureCorpus.Document d : CORPUS.documents(from, count)) rows.add(RowFactory.create(d.index(), d.text()));
        return MlTestData.spark().createDataFrame(rows, SCHEMA).repartition(partitions);
    }

    static MoELanguageModelEstimator estimator() {
        return new MoELanguageModelEstimator().setVocabularySize(100).setContext(2).setEmbeddingDim(8).setModelDim(16)
                .setNumExperts(4).setK(2).setExpertHiddenSize(16).setBatchSize(512).setMaxSteps(50).setStepSize(0.03).setRouting("local").setSeed(3);
    }

    @BeforeAll
    static void fit() {
        train = docs(0, 600, 2).cache();
        heldOut = docs(100_000, 150, 2).cache();
        model = estimator().setPredictionCol("next").fit(train);
    }

    static double[] column(Dataset<Row> scored, String col) {
        return scored.orderBy("id").select(col).collectAsList().stream().mapToDouble(r -> ((Number) r.get(0)).doubleValue()).toArray();
    }

    @Test
    void summaryToStringAndJobGroupAsTheOtherEstimators() {
        assertTrue(model.hasSummary());
        MoETrainingSummary sum = model.summary();
        assertEquals(50, sum.totalIterations());
        assertEquals(50, sum.cvImportance().length);
        assertTrue(sum.taskLoss()[49] < sum.taskLoss()[0], "task loss " + sum.taskLoss()[0] + " -> " + sum.taskLoss()[49]);
        String s = model.toString();
        for (String part : List.of("uid=" + model.uid(), "numExperts=4", "k=2", "d=16", "h=16", "vocabularySize=42", "context=2")) {
            assertTrue(s.contains(part), s);
        }
        assertTrue(estimator().toString().contains("vocabularySize=100"), estimator().toString());
        org.apache.spark.SparkContext sc = MlTestData.spark().sparkContext();
        sc.setJobGroup("lm-paragraph", "lm", false);
        try {
            estimator().setMaxSteps(1).fit(train);
            assertEquals("lm-paragraph", sc.getLocalProperty(Fitting.JOB_GROUP));
            assertEquals("lm", sc.getLocalProperty(Fitting.JOB_DESCRIPTION));
        } finally {
            sc.clearJobGroup();
        }
    }

    @Test
    void heldOutPerplexityFarBelowUniformAndPerDocumentColumns() {
        Vocabulary v = model.vocabulary();
        assertEquals(42, v.size(), "40 corpus words + <unk> + <eos>");
        double ppl = model.perplexity(heldOut);
        System.out.println("held-out perplexity " + ppl + ", uniform " + v.size() + ", corpus floor " + CORPUS.perplexityFloor());
        assertTrue(ppl < v.size() / 3.0, "held-out perplexity " + ppl + " vs uniform " + v.size());
        assertTrue(ppl > 1, "perplexity " + ppl);

        Row r = model.transform(heldOut).orderBy("id").head();
        String text = r.getString(r.fieldIndex("text"));
        int n = Tokenizer.defaults().tokens(text).size();
        assertEquals(n + 1, r.getInt(r.fieldIndex("numTargets")));
        double ll = r.getDouble(r.fieldIndex("logLikelihood"));
        assertTrue(ll < 0);
        assertEquals(Math.exp(-ll / (n + 1)), r.getDouble(r.fieldIndex("perplexity")), 1e-9);
        assertTrue(v.contains(r.getString(r.fieldIndex("next"))) || r.getString(r.fieldIndex("next")).equals(Vocabulary.EOS));
    }

    @Test
    void emptyAndNullDocumentsAndSchemaChecks() {
        List<Row> rows = Arrays.asList(RowFactory.create(1L, ""), RowFactory.create(2L, null), RowFactory.create(3L, "zzz qqq"));
        Dataset<Row> odd = MlTestData.spark().createDataFrame(rows, SCHEMA);
        List<Row> out = model.transform(odd).orderBy("id").collectAsList();
        assertEquals(0, out.get(0).getInt(out.get(0).fieldIndex("numTargets")));
        assertTrue(Double.isNaN(out.get(1).getDouble(out.get(1).fieldIndex("perplexity"))));
        assertEquals(3, out.get(2).getInt(out.get(2).fieldIndex("numTargets")), "two <unk> tokens then <eos>");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.transformSchema(
                new StructType().add("text", DataTypes.DoubleType)));
        assertTrue(e.getMessage().contains("textCol") && e.getMessage().contains("string"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.transformSchema(SCHEMA.add("perplexity", DataTypes.DoubleType)));
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
    }

    @Test
    void saveLoadGivesIdenticalOutputs(@TempDir Path tmp) throws IOException {
        String path = tmp.resolve("lm").toString();
        model.save(path);
        assertTrue(Files.isRegularFile(tmp.resolve("lm").resolve("vocabulary.txt")));
        MoELanguageModel loaded = MoELanguageModel.load(path);
        assertEquals(model.uid(), loaded.uid());
        assertEquals(model.spec(), loaded.spec());
        assertEquals(model.vocabulary(), loaded.vocabulary());
        assertEquals("next", loaded.getPredictionCol());
        assertEquals(2, loaded.getContext());
        Dataset<Row> a = model.transform(heldOut);
        Dataset<Row> b = loaded.transform(heldOut);
        assertArrayEquals(column(a, "logLikelihood"), column(b, "logLikelihood"));
        assertArrayEquals(column(a, "perplexity"), column(b, "perplexity"));
        assertEquals(a.orderBy("id").select("next").collectAsList(), b.orderBy("id").select("next").collectAsList());
        assertEquals(model.perplexity(heldOut), loaded.perplexity(heldOut));

        MoELanguageModelEstimator est = estimator().setTextCol("body").setVocabularySize(500);
        est.save(tmp.resolve("est").toString());
        MoELanguageModelEstimator est2 = MoELanguageModelEstimator.load(tmp.resolve("est").toString());
        assertEquals("body", est2.getTextCol());
        assertEquals(500, est2.getVocabularySize());
        assertEquals(8, est2.getEmbeddingDim());
        assertEquals("", est2.getPredictionCol());
    }

    @Test
    void warmStartKeepsTheVocabulary() {
        MoELanguageModel more = estimator().setMaxSteps(5).setInitialModel(model).fit(heldOut);
        assertEquals(model.vocabulary(), more.vocabulary());
        assertTrue(more.perplexity(heldOut) < model.vocabulary().size() / 3.0);
    }

    @Test
    void expertTableWrittenInChunksLoadsBack(@TempDir Path tmp) throws IOException {
        long old = org.sparkmoe.app.ParameterTable.expertChunkValues;
        org.sparkmoe.app.ParameterTable.expertChunkValues = 1; // one parquet write per expert
        try {
            model.save(tmp.resolve("lm").toString());
        } finally {
            org.sparkmoe.app.ParameterTable.expertChunkValues = old;
        }
        try (var files = Files.list(tmp.resolve("lm").resolve("parameters"))) {
            long parquet = files.filter(p -> p.getFileName().toString().endsWith(".parquet")).count();
            assertTrue(parquet >= 1 + model.spec().numExperts(), parquet + " parquet files");
        }
        MoELanguageModel loaded = MoELanguageModel.load(tmp.resolve("lm").toString());
        assertArrayEquals(column(model.transform(heldOut), "logLikelihood"), column(loaded.transform(heldOut), "logLikelihood"));
    }
}
