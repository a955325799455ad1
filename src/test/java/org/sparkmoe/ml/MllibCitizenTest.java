package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.apache.spark.ml.attribute.Attribute;
import org.apache.spark.ml.attribute.AttributeGroup;
import org.apache.spark.ml.attribute.NominalAttribute;
import org.apache.spark.ml.classification.OneVsRest;
import org.apache.spark.ml.classification.OneVsRestModel;
import org.apache.spark.ml.classification.ProbabilisticClassificationModel;
import org.apache.spark.ml.evaluation.BinaryClassificationEvaluator;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.evaluation.RegressionEvaluator;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.regression.RegressionModel;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The estimators and models as MLlib's own: base classes, single-row predictions, thresholds, metadata, evaluators, OneVsRest, summary, toString. */
class MllibCitizenTest {
    static Dataset<Row> trainC;
    static Dataset<Row> testC;
    static Dataset<Row> trainR;

    @BeforeAll
    static void data() {
        trainC = MlTestData.frame(1500, 11, true, 2).cache();
        testC = MlTestData.frame(300, 12, true, 2).cache();
        trainR = MlTestData.frame(1500, 13, false, 2).cache();
    }

    static MoEClassifier classifier(int steps) {
        return new MoEClassifier().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16).setBatchSize(128)
                .setMaxSteps(steps).setStepSize(0.02).setSeed(7);
    }

    @Test
    void paramsBelongToTheStageAndAreListedOnce() {
        MoEClassifier c = new MoEClassifier("moeClassifier_test");
        assertEquals("moeClassifier_test", c.featuresCol().parent());
        assertEquals("moeClassifier_test", c.thresholds().parent());
        assertEquals("moeClassifier_test", c.numExperts().parent());
        List<String> names = java.util.Arrays.stream(c.params()).map(Param::name).toList();
        assertEquals(names.size(), new java.util.HashSet<>(names).size(), names.toString());
        assertTrue(names.containsAll(List.of("thresholds", "probabilityCol", "rawPredictionCol", "numExperts", "expertsCol")), names.toString());
        c.setFeaturesCol("f").setThresholds(new double[] {0.5, 0.5}).setNumExperts(6);
        assertEquals("f", c.getFeaturesCol());
        assertEquals(6, c.getNumExperts());
        assertEquals("MoEClassifier: uid=moeClassifier_test, gating=noisyTopK, numExperts=6, k=2, d=" + c.getModelDim() + ", h="
                + c.getExpertHiddenSize() + ", maxSteps=" + c.getMaxSteps(), c.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> classifier(1).setValidationIndicatorCol("x0").fit(trainC));
        assertTrue(e.getMessage().contains("'x0'") && e.getMessage().contains("validationIndicatorCol"), e.getMessage());
    }

    @Test
    void classifierIsProbabilisticWithSingleRowPredictionsThresholdsMetadataAndSummary(@TempDir Path tmp) throws java.io.IOException {
        MoEClassificationModel model = classifier(40).fit(trainC);
        assertInstanceOf(ProbabilisticClassificationModel.class, model);
        String s = model.toString();
        for (String part : List.of("uid=" + model.uid(), "numExperts=4", "k=2", "d=16", "h=16", "numFeatures=4", "numClasses=3")) {
            assertTrue(s.contains(part), s);
        }
        Dataset<Row> scored = model.transform(testC);
        Attribute pred = Attribute.fromStructField(scored.schema().apply("prediction"));
        assertInstanceOf(NominalAttribute.class, pred);
        assertEquals(3, (Integer) ((NominalAttribute) pred).getNumValues().get());
        assertEquals(3, AttributeGroup.fromStructField(scored.schema().apply("probability")).size());
        assertEquals(3, AttributeGroup.fromStructField(scored.schema().apply("rawPrediction")).size());

        List<Row> rows = scored.select("features", "prediction", "probability", "rawPrediction").limit(30).collectAsList();
        for (Row r : rows) {
            Vector x = (Vector) r.get(0);
            assertEquals(r.getDouble(1), model.predict(x));
            assertArrayEquals(((Vector) r.get(2)).toArray(), model.predictProbability(x).toArray(), 1e-5);
            assertArrayEquals(((Vector) r.get(3)).toArray(), model.predictRaw(x).toArray(), 1e-4);
        }

        // thresholds: argmax of probability / threshold, in transform and in the single-row predict alike
        MoEClassificationModel biased = model.copy(new org.apache.spark.ml.param.ParamMap()).setThresholds(new double[] {1e-9, 1, 1});
        List<Row> b = biased.transform(testC).select("features", "prediction").collectAsList();
        assertTrue(b.stream().allMatch(r -> r.getDouble(1) == 0.0), "thresholds favouring class 0");
        for (Row r : b.subList(0, 10)) assertEquals(r.getDouble(1), biased.predict((Vector) r.get(0)));
        assertTrue(scored.where(functions.col("prediction").notEqual(0.0)).count() > 0);
        assertThrows(IllegalArgumentException.class,
                () -> model.copy(new org.apache.spark.ml.param.ParamMap()).setThresholds(new double[] {0.5, 0.5}).transform(testC));

        double acc = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored);
        assertTrue(acc > 0.5, "accuracy " + acc);

        assertTrue(model.hasSummary());
        MoETrainingSummary sum = model.summary();
        assertEquals(40, sum.totalIterations());
        assertEquals(0, sum.firstStep());
        assertEquals(40, sum.taskLoss().length);
        assertEquals(40, sum.steps()[39]);
        for (int i = 0; i < 40; i++) {
            assertEquals(sum.taskLoss()[i] + sum.importanceLoss()[i] + sum.loadLoss()[i], sum.objectiveHistory()[i], 1e-12);
            assertTrue(sum.cvImportance()[i] >= 0 && sum.cvLoad()[i] >= 0 && sum.maxOverMeanLoad()[i] >= 1 - 1e-9, "step " + i);
            assertTrue(sum.importanceLoss()[i] > 0, "balance loss at step " + i);
        }
        assertTrue(sum.taskLoss()[39] < sum.taskLoss()[0], "task loss " + sum.taskLoss()[0] + " -> " + sum.taskLoss()[39]);
        assertTrue(model.copy(new org.apache.spark.ml.param.ParamMap()).hasSummary());

        String path = tmp.resolve("m").toString();
        model.save(path);
        MoEClassificationModel loaded = MoEClassificationModel.load(path);
        assertFalse(loaded.hasSummary());
        assertThrows(IllegalStateException.class, loaded::summary);
        assertEquals(model.predict((Vector) rows.get(0).get(0)), loaded.predict((Vector) rows.get(0).get(0)));
    }

    @Test
    void oneVsRestAndBinaryEvaluator() {
        OneVsRestModel ovr = new OneVsRest().setClassifier(classifier(25)).fit(trainC);
        Dataset<Row> scored = ovr.transform(testC);
        double acc = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored);
        assertTrue(acc > 0.45, "one-vs-rest accuracy " + acc);

        Dataset<Row> binary = trainC.withColumn("label", functions.when(functions.col("label").equalTo(1.0), 1.0).otherwise(0.0))
                .withColumn("heldOut", functions.col("x3").gt(0.6));
        MoEClassificationModel m = classifier(40).setValidationIndicatorCol("heldOut").fit(binary);
        Dataset<Row> test = testC.withColumn("label", functions.when(functions.col("label").equalTo(1.0), 1.0).otherwise(0.0));
        double auc = new BinaryClassificationEvaluator().evaluate(m.transform(test));
        assertTrue(auc > 0.7, "area under ROC " + auc);
        // the summary's held-out metrics are the model's on exactly the marked rows
        java.util.Map<String, Double> val = m.summary().validationMetrics();
        assertEquals(java.util.Set.of("logLoss", "accuracy", "f1"), val.keySet());
        double heldOutAcc = new MulticlassClassificationEvaluator().setMetricName("accuracy")
                .evaluate(m.transform(binary.where(functions.col("heldOut"))));
        assertEquals(heldOutAcc, val.get("accuracy"), 1e-12);
        assertTrue(val.get("logLoss") > 0 && val.get("logLoss") < Math.log(2), val.toString());
    }

    @Test
    void regressorIsARegressorWithSingleRowPredictAndSummary() {
        MoERegressionModel model = new MoERegressor().setNumExperts(4).setK(2).setModelDim(16).setExpertHiddenSize(16).setBatchSize(128)
                .setMaxSteps(30).setStepSize(0.02).setSeed(7).fit(trainR);
        assertInstanceOf(RegressionModel.class, model);
        assertTrue(model.toString().contains("numFeatures=4") && model.toString().contains("uid=" + model.uid()), model.toString());
        Dataset<Row> scored = model.transform(trainR.limit(50));
        for (Row r : scored.select("features", "prediction").collectAsList()) {
            assertEquals(r.getDouble(1), model.predict((Vector) r.get(0)), 1e-5 * Math.max(1, Math.abs(r.getDouble(1))));
        }
        assertTrue(new RegressionEvaluator().evaluate(scored) > 0);
        assertEquals(30, model.summary().totalIterations());
        assertEquals(30, model.summary().cvLoad().length);
        assertTrue(model.summary().validationMetrics().isEmpty());
    }

    static void assertArrayEquals(double[] expected, double[] actual, double tol) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], tol, "element " + i);
    }
}
