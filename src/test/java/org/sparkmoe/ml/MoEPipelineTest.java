package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.evaluation.RegressionEvaluator;
import org.apache.spark.ml.feature.StringIndexer;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.tuning.CrossValidator;
import org.apache.spark.ml.tuning.CrossValidatorModel;
import org.apache.spark.ml.tuning.ParamGridBuilder;
import org.apache.spark.ml.tuning.TrainValidationSplit;
import org.apache.spark.ml.tuning.TrainValidationSplitModel;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MoEPipelineTest {

    @Test
    void pipelineFitsSavesAndReloadsWithIdenticalPredictions(@TempDir Path tmp) throws IOException {
        Dataset<Row> train = MlTestData.frame(2000, 11, true, 2).drop("features", "label");
        Dataset<Row> test = MlTestData.frame(500, 12, true, 2).drop("features", "label");
        VectorAssembler assembler = new VectorAssembler().setInputCols(new String[] {"x0", "x1", "x2", "x3"}).setOutputCol("features");
        StringIndexer indexer = new StringIndexer().setInputCol("name").setOutputCol("label");
        MoEClassifier moe = new MoEClassifier().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16)
                .setBatchSize(128).setMaxSteps(120).setStepSize(0.02).setExpertsCol("experts");
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {assembler, indexer, moe});
        PipelineModel model = pipeline.fit(train);
        Dataset<Row> scored = model.transform(test);
        double acc = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored);
        assertTrue(acc > 0.7, "pipeline accuracy " + acc);

        String path = tmp.resolve("pipeline").toString();
        model.write().overwrite().save(path);
        PipelineModel loaded = PipelineModel.load(path);
        assertInstanceOf(MoEClassificationModel.class, loaded.stages()[2]);
        Dataset<Row> again = loaded.transform(test);
        assertArrayEquals(MoEEstimatorTest.predictions(scored), MoEEstimatorTest.predictions(again));
        assertArrayEquals(MoEEstimatorTest.probabilities(scored), MoEEstimatorTest.probabilities(again));
        assertEquals(scored.select("experts").collectAsList(), again.select("experts").collectAsList());

        // the unfitted pipeline (with the estimator) round-trips too
        pipeline.write().overwrite().save(tmp.resolve("unfitted").toString());
        Pipeline p2 = Pipeline.load(tmp.resolve("unfitted").toString());
        MoEClassifier moe2 = (MoEClassifier) p2.getStages()[2];
        assertEquals(moe.uid(), moe2.uid());
        assertEquals(120, moe2.getMaxSteps());
    }

    @Test
    void trainValidationSplitPicksTheBetterSetting() {
        Dataset<Row> data = MlTestData.frame(2000, 21, false, 2);
        MoERegressor moe = new MoERegressor().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16)
                .setBatchSize(128).setStepSize(0.02).setRouting("local");
        // 1 step barely moves from the initialisation; 80 steps fit the rule
        ParamMap[] grid = new ParamGridBuilder().addGrid(moe.maxSteps(), new int[] {1, 80}).build();
        TrainValidationSplit tvs = new TrainValidationSplit().setEstimator(moe).setEstimatorParamMaps(grid)
                .setEvaluator(new RegressionEvaluator().setMetricName("rmse")).setTrainRatio(0.75).setSeed(5);
        TrainValidationSplitModel m = tvs.fit(data);
        double[] metrics = m.validationMetrics();
        assertTrue(metrics[1] < metrics[0], "rmse 1 step " + metrics[0] + " vs 80 steps " + metrics[1]);
        assertEquals(80, ((MoERegressionModel) m.bestModel()).getMaxSteps());
    }

    @Test
    void crossValidatorPicksTheBetterSetting() {
        Dataset<Row> data = MlTestData.frame(1500, 31, true, 2);
        MoEClassifier moe = new MoEClassifier().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16)
                .setBatchSize(128).setStepSize(0.02).setMaxSteps(60).setRouting("local");
        ParamMap[] grid = new ParamGridBuilder().addGrid(moe.stepSize(), new double[] {1e-6, 0.03}).build();
        CrossValidator cv = new CrossValidator().setEstimator(moe).setEstimatorParamMaps(grid)
                .setEvaluator(new MulticlassClassificationEvaluator().setMetricName("accuracy")).setNumFolds(2).setSeed(3);
        CrossValidatorModel m = cv.fit(data);
        double[] metrics = m.avgMetrics();
        assertTrue(metrics[1] > metrics[0], "accuracy lr 1e-6 " + metrics[0] + " vs 0.03 " + metrics[1]);
        assertEquals(0.03, ((MoEClassificationModel) m.bestModel()).getStepSize());
    }
}
