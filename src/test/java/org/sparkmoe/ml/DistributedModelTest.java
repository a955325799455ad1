package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.core.network.ModelParameters;

/** Models whose experts stay on the executors: fit, score, save, load, warm start, move. */
class DistributedModelTest {
    static Dataset<Row> train;
    static Dataset<Row> test;
    static MoEClassificationModel dist;

    @BeforeAll
    static void fit() {
        train = MlTestData.frame(1500, 21, true, 2).cache();
        test = MlTestData.frame(400, 22, true, 3).cache();
        dist = classifier().setPlacement("sharded").setExpertShards(3).setMaxSteps(15).fit(train);
    }

    static MoEClassifier classifier() {
        return new MoEClassifier().setNumExperts(6).setK(2).setModelDim(8).setExpertHiddenSize(8)
                .setBatchSize(128).setStepSize(0.02).setSeed(5).setExpertsCol("experts");
    }

    /** Same rows (by x0), same experts and gates, probabilities within {@code tol}. */
    static void assertSameScores(List<Row> a, List<Row> b, String col, double tol) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            Row x = a.get(i), y = b.get(i);
            assertEquals(x.getDouble(x.fieldIndex("x0")), y.getDouble(y.fieldIndex("x0")));
            assertEquals(x.getList(x.fieldIndex("experts")), y.getList(y.fieldIndex("experts")), "row " + i + ": chosen experts and gates");
            Object p = x.get(x.fieldIndex(col)), q = y.get(y.fieldIndex(col));
            if (p instanceof Vector pv) {
                assertArrayEquals(pv.toArray(), ((Vector) q).toArray(), tol, "row " + i);
            } else {
                assertEquals((Double) p, (Double) q, tol, "row " + i);
            }
        }
    }

    static List<Row> scores(Dataset<Row> scored) {
        return scored.orderBy("x0").collectAsList();
    }

    static void assertSameParameters(ModelParameters a, ModelParameters b) {
        assertEquals(a.experts().length, b.experts().length);
        for (int i = 0, n = a.shared().flat().size(); i < n; i++) assertEquals(a.shared().flat().getFlat(i), b.shared().flat().getFlat(i));
        for (int e = 0; e < a.experts().length; e++) {
            for (int i = 0, n = a.experts()[e].flat().size(); i < n; i++) {
                assertEquals(a.experts()[e].flat().getFlat(i), b.experts()[e].flat().getFlat(i), "expert " + e + " value " + i);
            }
        }
    }

    @Test
    void shardedFitKeepsTheExpertsOnTheExecutorsAndScoresLikeTheLocalModel() {
        assertTrue(dist.isDistributed());
        ExpertTable.Distributed t = (ExpertTable.Distributed) dist.experts();
        assertEquals(3, t.rdd().getNumPartitions());
        assertEquals(6, t.rdd().count());
        IllegalStateException e = assertThrows(IllegalStateException.class, dist::parameters);
        assertTrue(e.getMessage().contains("toLocal()"), e.getMessage());

        MoEClassificationModel local = dist.toLocal();
        assertFalse(local.isDistributed());
        assertSameScores(scores(local.transform(test)), scores(dist.transform(test)), "probability", 1e-5);
        assertSameScores(scores(local.transform(test)), scores(dist.transform(test)), "rawPrediction", 1e-4);
        // scoring the same input twice gives the same rows (the input is read twice per transform)
        assertSameScores(scores(dist.transform(test)), scores(dist.transform(test)), "probability", 1e-6);
    }

    @Test
    void saveWritesTheTableFromTheExecutorsAndLoadKeepsItDistributed(@TempDir Path tmp) throws Exception {
        String path = tmp.resolve("clf").toString();
        dist.write().save(path);
        MoEClassificationModel loaded = MoEClassificationModel.load(path);
        assertTrue(loaded.isDistributed(), "a model saved with placement sharded loads distributed");
        assertEquals(3, ((ExpertTable.Distributed) loaded.experts()).partitioner().numPartitions());
        assertSameParameters(dist.toLocal().parameters(), loaded.toLocal().parameters());
        assertSameScores(scores(dist.transform(test)), scores(loaded.transform(test)), "probability", 1e-6);

        MoEClassificationModel asLocal = MoEClassificationModel.read().local().load(path);
        assertFalse(asLocal.isDistributed());
        assertSameParameters(dist.toLocal().parameters(), asLocal.parameters());
        MoEClassificationModel two = MoEClassificationModel.read().distributed(2).load(path);
        assertEquals(2, ((ExpertTable.Distributed) two.experts()).partitioner().numPartitions());
        assertSameScores(scores(asLocal.transform(test)), scores(two.transform(test)), "probability", 1e-5);
        assertFalse(Files.list(tmp).anyMatch(p -> p.getFileName().toString().startsWith(".")), "no temporary left beside the model");
    }

    @Test
    void aDriverModelCanBeLoadedOrMovedOntoTheExecutors(@TempDir Path tmp) throws Exception {
        Dataset<Row> trainR = MlTestData.frame(1500, 23, false, 2).cache();
        MoERegressionModel reg = new MoERegressor().setGating("hierarchical").setNumGroups(2).setExpertsPerGroup(2)
                .setModelDim(8).setExpertHiddenSize(8).setBatchSize(128).setMaxSteps(10).setSeed(5).setExpertsCol("experts").fit(trainR);
        assertFalse(reg.isDistributed());
        reg.save(tmp.resolve("reg").toString());
        MoERegressionModel dr = MoERegressionModel.read().distributed(2).load(tmp.resolve("reg").toString());
        assertTrue(dr.isDistributed());
        assertSameScores(scores(reg.transform(test)), scores(dr.transform(test)), "prediction", 1e-5);

        MoERegressionModel moved = reg.toDistributed(4);
        assertEquals(4, ((ExpertTable.Distributed) moved.experts()).partitioner().numPartitions());
        assertSameParameters(reg.parameters(), moved.toLocal().parameters());
        assertSameScores(scores(reg.transform(test)), scores(moved.transform(test)), "prediction", 1e-5);
        moved.unpersist();
        trainR.unpersist();
    }

    @Test
    void warmStartFromDistributedExpertsEqualsWarmStartFromTheSameExpertsOnTheDriver() {
        for (String placement : new String[] {"sharded", "driver"}) {
            MoEClassificationModel fromDist = classifier().setPlacement(placement).setExpertShards(2).setMaxSteps(3).setSeed(9)
                    .setInitialModel(dist).fit(train);
            MoEClassificationModel fromLocal = classifier().setPlacement(placement).setExpertShards(2).setMaxSteps(3).setSeed(9)
                    .setInitialModel(dist.toLocal()).fit(train);
            assertSameParameters(fromLocal.toLocal().parameters(), fromDist.toLocal().parameters());
        }
        // zero steps: the warm-started model is the initial one, re-sharded (2) or kept on its shards (3)
        for (int shards : new int[] {2, 3}) {
            MoEClassificationModel same = classifier().setPlacement("sharded").setExpertShards(shards).setMaxSteps(0)
                    .setInitialModel(dist).fit(train);
            assertEquals(shards, ((ExpertTable.Distributed) same.experts()).partitioner().numPartitions());
            assertSameParameters(dist.toLocal().parameters(), same.toLocal().parameters());
        }
    }

    @Test
    void aPipelineWithADistributedModelSavesAndLoads(@TempDir Path tmp) throws Exception {
        Dataset<Row> raw = train.select("x0", "x1", "x2", "x3", "label");
        VectorAssembler va = new VectorAssembler().setInputCols(new String[] {"x0", "x1", "x2", "x3"}).setOutputCol("features");
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {va,
                classifier().setPlacement("sharded").setExpertShards(2).setMaxSteps(5)});
        PipelineModel model = pipeline.fit(raw);
        assertTrue(((MoEClassificationModel) model.stages()[1]).isDistributed());
        String path = tmp.resolve("pipe").toString();
        model.write().overwrite().save(path);
        PipelineModel loaded = PipelineModel.load(path);
        assertTrue(((MoEClassificationModel) loaded.stages()[1]).isDistributed());
        Dataset<Row> in = test.select("x0", "x1", "x2", "x3", "label");
        assertSameScores(scores(model.transform(in)), scores(loaded.transform(in)), "probability", 1e-6);
    }

    @Test
    void aLanguageModelKeepsItsExpertsOnTheExecutorsToo(@TempDir Path tmp) throws Exception {
        Dataset<Row> docs = MoELanguageModelTest.docs(0, 300, 2).cache();
        Dataset<Row> held = MoELanguageModelTest.docs(100_000, 80, 3).cache();
        MoELanguageModel lm = MoELanguageModelTest.estimator().setRouting("shuffle").setPlacement("sharded").setExpertShards(2)
                .setMaxSteps(10).setPredictionCol("next").fit(docs);
        assertTrue(lm.isDistributed());
        assertThrows(IllegalStateException.class, lm::parameters);
        MoELanguageModel local = lm.toLocal();
        List<Row> a = local.transform(held).orderBy("id").collectAsList();
        List<Row> b = lm.transform(held).orderBy("id").collectAsList();
        assertEquals(a.size(), b.size());
        int samePrediction = 0;
        for (int i = 0; i < a.size(); i++) {
            Row x = a.get(i), y = b.get(i);
            assertEquals(x.getLong(0), y.getLong(0));
            assertEquals(x.getInt(x.fieldIndex("numTargets")), y.getInt(y.fieldIndex("numTargets")));
            double lx = x.getDouble(x.fieldIndex("logLikelihood")), ly = y.getDouble(y.fieldIndex("logLikelihood"));
            assertEquals(lx, ly, 1e-5 * Math.abs(lx) + 1e-6, "document " + x.getLong(0));
            if (x.getString(x.fieldIndex("next")).equals(y.getString(y.fieldIndex("next")))) samePrediction++;
        }
        assertTrue(samePrediction >= a.size() - 1, samePrediction + " of " + a.size() + " next-word predictions agree");
        assertEquals(local.perplexity(held), lm.perplexity(held), 1e-5 * local.perplexity(held));

        String path = tmp.resolve("lm").toString();
        lm.write().save(path);
        MoELanguageModel loaded = MoELanguageModel.load(path);
        assertTrue(loaded.isDistributed());
        assertSameParameters(local.parameters(), loaded.toLocal().parameters());
        assertEquals(lm.perplexity(held), loaded.perplexity(held), 1e-9 * lm.perplexity(held));
        MoELanguageModel asLocal = MoELanguageModel.read().local().load(path);
        assertFalse(asLocal.isDistributed());
        assertEquals(local.perplexity(held), asLocal.perplexity(held), 0);
        lm.unpersist();
        loaded.unpersist();
    }

    /** Bytes of task results sent to the driver while listening. */
    static final class ResultBytes extends org.apache.spark.scheduler.SparkListener {
        final java.util.concurrent.atomic.AtomicLong bytes = new java.util.concurrent.atomic.AtomicLong();

        @Override
        public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd end) {
            if (end.taskMetrics() != null) bytes.addAndGet(end.taskMetrics().resultSize());
        }
    }

    @Test
    void theExpertsNeverTravelToTheDriver(@TempDir Path tmp) throws Exception {
        org.apache.spark.SparkContext sc = MlTestData.spark().sparkContext();
        // experts of 2 x 64 x 512 weights each: 8 of them are 2 MB in float32, the rest of the model ~10 KB
        MoEClassifier big = new MoEClassifier().setNumExperts(8).setK(2).setModelDim(64).setExpertHiddenSize(512)
                .setBatchSize(128).setMaxSteps(2).setSeed(3).setPlacement("sharded").setExpertShards(2);
        ResultBytes fitted = new ResultBytes();
        sc.addSparkListener(fitted);
        MoEClassificationModel model;
        try {
            model = big.fit(train);
            sc.listenerBus().waitUntilEmpty();
        } finally {
            sc.removeSparkListener(fitted);
        }
        long expertBytes = 8L * (2 * 64 * 512 + 512 + 64) * 4;
        ResultBytes used = new ResultBytes();
        sc.addSparkListener(used);
        try {
            String path = tmp.resolve("big").toString();
            model.write().save(path);
            MoEClassificationModel loaded = MoEClassificationModel.load(path);
            assertTrue(loaded.isDistributed());
            loaded.transform(test).write().format("noop").mode("overwrite").save();
            sc.listenerBus().waitUntilEmpty();
        } finally {
            sc.removeSparkListener(used);
        }
        System.out.println("result bytes to the driver: fit " + fitted.bytes.get() + ", save+load+transform " + used.bytes.get() + ", experts " + expertBytes);
        assertTrue(fitted.bytes.get() < expertBytes / 10, "fit sent " + fitted.bytes.get() + " result bytes to the driver; the experts are "
                + expertBytes);
        assertTrue(used.bytes.get() < expertBytes / 10, "save, load and transform sent " + used.bytes.get()
                + " result bytes to the driver; the experts are " + expertBytes);
        // the same measure sees a gather: collecting the experts sends at least their size
        ResultBytes gathered = new ResultBytes();
        sc.addSparkListener(gathered);
        try {
            model.toLocal();
            sc.listenerBus().waitUntilEmpty();
        } finally {
            sc.removeSparkListener(gathered);
        }
        assertTrue(gathered.bytes.get() >= expertBytes, "toLocal() sent only " + gathered.bytes.get() + " bytes");
        model.unpersist();
    }

    @Test
    void javaSerializationKeepsLocalWeightsAndRefusesDistributedOnes() throws Exception {
        MoEClassificationModel local = dist.toLocal();
        MoEClassificationModel copy = roundTrip(local);
        assertSameParameters(local.parameters(), copy.parameters());
        assertSameScores(scores(local.transform(test)), scores(copy.transform(test)), "probability", 0);

        MoEClassificationModel distCopy = roundTrip(dist);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> distCopy.transform(test));
        assertTrue(e.getMessage().contains("save the model"), e.getMessage());
    }

    @SuppressWarnings("unchecked")
    static <T> T roundTrip(T o) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (T) in.readObject();
        }
    }
}
