package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MoEEstimatorTest {
    static Dataset<Row> trainC;
    static Dataset<Row> testC;
    static Dataset<Row> trainR;
    static Dataset<Row> testR;

    @BeforeAll
    static void data() {
        trainC = MlTestData.frame(3000, 1, true, 3).cache();
        testC = MlTestData.frame(1000, 2, true, 2).cache();
        trainR = MlTestData.frame(3000, 3, false, 3).cache();
        testR = MlTestData.frame(1000, 4, false, 2).cache();
    }

    static MoEClassifier classifier() {
        return new MoEClassifier().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16).setBatchSize(128)
                .setMaxSteps(150).setStepSize(0.02).setSeed(7);
    }

    static MoERegressor regressor() {
        return new MoERegressor().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16).setBatchSize(128)
                .setMaxSteps(150).setStepSize(0.02).setSeed(7);
    }

    static double accuracy(Dataset<Row> scored) {
        return scored.where(functions.col("prediction").equalTo(functions.col("label"))).count() / (double) scored.count();
    }

    static double rmse(Dataset<Row> scored) {
        Row r = scored.agg(functions.avg(functions.pow(functions.col("prediction").minus(functions.col("label")), 2))).head();
        return Math.sqrt(r.getDouble(0));
    }

    @Test
    void classifierBeatsMajorityClassAndSavesLoads(@TempDir Path tmp) throws IOException {
        MoEClassificationModel model = classifier().setExpertsCol("experts").fit(trainC);
        assertEquals(3, model.numClasses());
        assertEquals(4, model.numFeatures());
        Dataset<Row> scored = model.transform(testC);
        double acc = accuracy(scored);
        double majority = testC.groupBy("label").count().agg(functions.max("count")).head().getLong(0) / (double) testC.count();
        assertTrue(acc > majority + 0.2, "accuracy " + acc + " vs majority " + majority);
        Row first = scored.head();
        Vector prob = first.getAs("probability");
        assertEquals(3, prob.size());
        assertEquals(1.0, prob.toArray()[0] + prob.toArray()[1] + prob.toArray()[2], 1e-5);
        List<Row> experts = first.getList(first.fieldIndex("experts"));
        assertEquals(2, experts.size());
        for (Row e : experts) assertTrue(e.getInt(0) >= 0 && e.getInt(0) < 4 && e.getDouble(1) > 0);

        String path = tmp.resolve("clf").toString();
        model.write().save(path);
        MoEClassificationModel loaded = MoEClassificationModel.load(path);
        assertEquals(model.uid(), loaded.uid());
        assertEquals(model.spec(), loaded.spec());
        assertEquals("experts", loaded.getExpertsCol());
        assertArrayEquals(predictions(scored), predictions(loaded.transform(testC)));
        assertArrayEquals(probabilities(scored), probabilities(loaded.transform(testC)));
    }

    @Test
    void regressorBeatsMeanAndSavesLoads(@TempDir Path tmp) throws IOException {
        MoERegressionModel model = regressor().fit(trainR);
        Dataset<Row> scored = model.transform(testR);
        double rmse = rmse(scored);
        double mean = testR.agg(functions.avg("label")).head().getDouble(0);
        double baseline = rmse(testR.withColumn("prediction", functions.lit(mean)));
        assertTrue(rmse < 0.6 * baseline, "rmse " + rmse + " vs baseline " + baseline);

        String path = tmp.resolve("reg").toString();
        model.save(path);
        MoERegressionModel loaded = MoERegressionModel.load(path);
        assertEquals(model.spec(), loaded.spec());
        assertArrayEquals(predictions(scored), predictions(loaded.transform(testR)));
    }

    @Test
    void estimatorsSaveAndLoadWithParams(@TempDir Path tmp) throws IOException {
        MoEClassifier c = classifier().setGating("hierarchical").setNumGroups(2).setExpertsPerGroup(3).setWLoad(0.5);
        c.save(tmp.resolve("c").toString());
        MoEClassifier c2 = MoEClassifier.load(tmp.resolve("c").toString());
        assertEquals(c.uid(), c2.uid());
        assertEquals("hierarchical", c2.getGating());
        assertEquals(3, c2.getExpertsPerGroup());
        assertEquals(0.5, c2.getWLoad());
        assertEquals(150, c2.getMaxSteps());
        MoERegressor r = regressor().setRouting("local").setPlacement("sharded").setExpertShards(2);
        r.save(tmp.resolve("r").toString());
        MoERegressor r2 = MoERegressor.load(tmp.resolve("r").toString());
        assertEquals("sharded", r2.getPlacement());
        assertEquals("local", r2.getRouting());
        assertEquals(2, r2.getExpertShards());
    }

    @Test
    void saveRefusesExistingPathUnlessOverwriteAndLeavesNoTemporaries(@TempDir Path tmp) throws IOException {
        MoERegressionModel model = regressor().setMaxSteps(3).fit(trainR);
        Path target = tmp.resolve("m");
        model.save(target.toString());
        IOException e = assertThrows(IOException.class, () -> model.save(target.toString()));
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        MoERegressionModel other = regressor().setMaxSteps(6).setSeed(99).fit(trainR);
        other.write().overwrite().save(target.toString());
        assertArrayEquals(predictions(other.transform(testR)), predictions(MoERegressionModel.load(target.toString()).transform(testR)));
        try (var files = Files.list(tmp)) {
            assertEquals(List.of("m"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void shardedPlacementHierarchicalGatingAndWarmStart(@TempDir Path tmp) throws IOException {
        MoEClassifier est = classifier().setGating("hierarchical").setNumGroups(2).setExpertsPerGroup(2).setKPrimary(1)
                .setKSecondary(2).setPlacement("sharded").setExpertShards(2).setMaxSteps(60)
                .setCheckpointDir(tmp.resolve("ckpt").toString()).setCheckpointInterval(30);
        MoEClassificationModel m1 = est.fit(trainC);
        assertEquals(4, m1.spec().numExperts());
        double acc1 = accuracy(m1.transform(testC));
        m1.save(tmp.resolve("m1").toString());
        // warm start from the saved model: more steps from where it stopped, fresh checkpoints
        MoEClassificationModel m2 = est.copy(new org.apache.spark.ml.param.ParamMap()).setCheckpointDir("")
                .setInitialModelPath(tmp.resolve("m1").toString()).setMaxSteps(90).fit(trainC);
        double acc2 = accuracy(m2.transform(testC));
        assertTrue(acc2 > acc1 - 0.02, "warm start " + acc2 + " vs start " + acc1);
        assertFalse(java.util.Arrays.equals(predictions(m1.transform(testC)), predictions(m2.transform(testC)))
                && java.util.Arrays.equals(probabilities(m1.transform(testC)), probabilities(m2.transform(testC))));
        // refitting with the same checkpointDir resumes the finished run: same parameters, no more steps
        MoEClassificationModel again = est.fit(trainC);
        assertArrayEquals(probabilities(m1.transform(testC)), probabilities(again.transform(testC)));
    }

    static double[] predictions(Dataset<Row> scored) {
        return scored.select("prediction").collectAsList().stream().mapToDouble(r -> r.getDouble(0)).toArray();
    }

    static double[] probabilities(Dataset<Row> scored) {
        return scored.select("probability").collectAsList().stream()
                .flatMapToDouble(r -> java.util.Arrays.stream(((Vector) r.get(0)).toArray())).toArray();
    }
}
