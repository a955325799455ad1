package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.spark.ml.evaluation.RegressionEvaluator;
import org.apache.spark.ml.param.Param;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/**
 * {@code weightCol} as MLlib's estimators have it: the task loss is {@code sum w L / sum w}, so
 * through fit a row of weight 2 trains like the row twice and a row of weight 0 like no row (gating
 * without noise, balance losses off, full-batch steps: the two runs see the same rows in every step);
 * bad weights are refused naming the column and the row; held-out metrics are weighted; a plain
 * session (Java serializer) fits with it.
 */
class WeightColTest {
    static final StructType WEIGHTED = MlTestData.SCHEMA.add("w", DataTypes.DoubleType, true);

    /** Rows of {@link MlTestData#frame} with weight {@code weight.apply(i)}, row i repeated {@code copies.apply(i)} times. */
    private static Dataset<Row> rows(List<Row> base, java.util.function.IntToDoubleFunction weight, java.util.function.IntUnaryOperator copies) {
        List<Row> out = new ArrayList<>();
        for (int i = 0; i < base.size(); i++) {
            Row r = base.get(i);
            for (int c = 0; c < copies.applyAsInt(i); c++) {
                out.add(RowFactory.create(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), weight.applyAsDouble(i)));
            }
        }
        return MlTestData.spark().createDataFrame(out, WEIGHTED).coalesce(1);
    }

    private static <T extends MoESupervisedParams<T>> T deterministic(T p, int batch) {
        // softmax gating: no gate noise (which depends on example ids); no balance losses (they count rows unweighted)
        return p.setGating("softmax").setNumExperts(3).setModelDim(8).setExpertHiddenSize(8).setWImportance(0).setWLoad(0)
                .setBatchSize(batch).setMaxSteps(8).setStepSize(0.05).setSeed(5);
    }

    private static double maxRelativeDifference(double[] a, double[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
        return d;
    }

    private static double[] column(Dataset<Row> scored, String col, boolean vector) {
        return scored.select(col).collectAsList().stream()
                .mapToDouble(r -> vector ? ((org.apache.spark.ml.linalg.Vector) r.get(0)).apply(1) : r.getDouble(0)).toArray();
    }

    @Test
    void weightTwoFitsLikeTheRowTwice() {
        List<Row> base = MlTestData.frame(90, 21, true, 1).collectAsList();
        Dataset<Row> test = MlTestData.frame(200, 22, true, 1);
        int twice = 30; // rows 0..29 weigh 2
        MoEClassificationModel weighted = deterministic(new MoEClassifier(), base.size()).setWeightCol("w")
                .fit(rows(base, i -> i < twice ? 2 : 1, i -> 1));
        MoEClassificationModel duplicated = deterministic(new MoEClassifier(), base.size() + twice)
                .fit(rows(base, i -> 1, i -> i < twice ? 2 : 1));
        MoEClassificationModel unweighted = deterministic(new MoEClassifier(), base.size()).fit(rows(base, i -> 1, i -> 1));

        double[] lossW = weighted.trainingSummary().orElseThrow().taskLoss();
        double[] lossD = duplicated.trainingSummary().orElseThrow().taskLoss();
        double[] lossU = unweighted.trainingSummary().orElseThrow().taskLoss();
        double[] pW = column(weighted.transform(test), "probability", true);
        double[] pD = column(duplicated.transform(test), "probability", true);
        double[] pU = column(unweighted.transform(test), "probability", true);
        // float32 training: the two runs differ only by summation order
        double tol = 2e-4;
        System.out.printf("weight 2 vs duplicated: task loss %.2e, probabilities %.2e; unweighted vs duplicated: %.2e, %.2e%n",
                maxRelativeDifference(lossW, lossD), maxRelativeDifference(pW, pD), maxRelativeDifference(lossU, lossD),
                maxRelativeDifference(pU, pD));
        assertTrue(maxRelativeDifference(lossW, lossD) < tol, "task loss per step: weighted " + java.util.Arrays.toString(lossW)
                + ", duplicated " + java.util.Arrays.toString(lossD));
        assertTrue(maxRelativeDifference(pW, pD) < tol, "probabilities differ by " + maxRelativeDifference(pW, pD));
        // the tolerance is far below what ignoring the weights changes
        assertTrue(maxRelativeDifference(lossU, lossD) > 50 * tol, "unweighted loss differs by only " + maxRelativeDifference(lossU, lossD));
        assertTrue(maxRelativeDifference(pU, pD) > 50 * tol, "unweighted probabilities differ by only " + maxRelativeDifference(pU, pD));
    }

    @Test
    void weightZeroFitsLikeTheRowRemoved() {
        List<Row> base = MlTestData.frame(90, 23, false, 1).collectAsList();
        Dataset<Row> test = MlTestData.frame(200, 24, false, 1);
        java.util.function.IntPredicate zero = i -> i % 3 == 0;
        MoERegressionModel weighted = deterministic(new MoERegressor(), base.size()).setWeightCol("w")
                .fit(rows(base, i -> zero.test(i) ? 0 : 0.5, i -> 1));
        MoERegressionModel removed = deterministic(new MoERegressor(), base.size() - 30)
                .fit(rows(base, i -> 1, i -> zero.test(i) ? 0 : 1));
        MoERegressionModel unweighted = deterministic(new MoERegressor(), base.size()).fit(rows(base, i -> 1, i -> 1));
        double[] yW = column(weighted.transform(test), "prediction", false);
        double[] yR = column(removed.transform(test), "prediction", false);
        double[] yU = column(unweighted.transform(test), "prediction", false);
        double tol = 2e-4;
        System.out.printf("weight 0 vs removed: predictions %.2e; unweighted vs removed: %.2e%n", maxRelativeDifference(yW, yR),
                maxRelativeDifference(yU, yR));
        assertTrue(maxRelativeDifference(weighted.trainingSummary().orElseThrow().taskLoss(),
                removed.trainingSummary().orElseThrow().taskLoss()) < tol, "task loss per step");
        assertTrue(maxRelativeDifference(yW, yR) < tol, "predictions differ by " + maxRelativeDifference(yW, yR));
        assertTrue(maxRelativeDifference(yU, yR) > 50 * tol, "unweighted predictions differ by only " + maxRelativeDifference(yU, yR));
    }

    private static Throwable root(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && !(t instanceof IllegalArgumentException)) t = t.getCause();
        return t;
    }

    @Test
    void badWeightsAreRefusedNamingColumnAndRow() {
        List<Row> base = MlTestData.frame(40, 25, true, 1).collectAsList();
        for (double bad : new double[] {-0.5, Double.NaN, Double.POSITIVE_INFINITY, 1e39}) {
            Dataset<Row> data = rows(base, i -> i == 17 ? bad : 1, i -> 1);
            Throwable e = root(assertThrows(Exception.class, () -> new MoEClassifier().setWeightCol("w").setBatchSize(16).setMaxSteps(1).fit(data)));
            assertTrue(e.getMessage().contains("row 17") && e.getMessage().contains("'w'") && e.getMessage().contains("weightCol"),
                    bad + ": " + e.getMessage());
        }
        Dataset<Row> nulls = rows(base, i -> 1, i -> 1).withColumn("w", functions.when(functions.col("x0").equalTo(base.get(9).getDouble(2)),
                functions.lit(null)).otherwise(functions.col("w")));
        Throwable e = root(assertThrows(Exception.class, () -> new MoERegressor().setWeightCol("w").setBatchSize(16).setMaxSteps(1).fit(nulls)));
        assertTrue(e.getMessage().contains("row 9") && e.getMessage().contains("is null"), e.getMessage());
        Throwable zero = root(assertThrows(Exception.class,
                () -> new MoERegressor().setWeightCol("w").setBatchSize(16).setMaxSteps(1).fit(rows(base, i -> 0, i -> 1))));
        assertTrue(zero.getMessage().contains("sum to 0"), zero.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setWeightCol("weight").fit(rows(base, i -> 1, i -> 1)));
        assertTrue(missing.getMessage().contains("'weight' (param weightCol) does not exist"), missing.getMessage());
        IllegalArgumentException text = assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setWeightCol("name").fit(rows(base, i -> 1, i -> 1)));
        assertTrue(text.getMessage().contains("must be numeric"), text.getMessage());
    }

    @Test
    void heldOutMetricsAreWeighted() {
        Dataset<Row> data = rows(MlTestData.frame(600, 26, false, 1).collectAsList(), i -> i % 4 == 0 ? 3 : 0.25, i -> 1)
                .withColumn("held", functions.col("x3").gt(0.5));
        MoERegressionModel m = new MoERegressor().setNumExperts(3).setModelDim(8).setExpertHiddenSize(8).setBatchSize(64).setMaxSteps(20)
                .setStepSize(0.05).setSeed(5).setWeightCol("w").setValidationIndicatorCol("held").fit(data);
        Map<String, Double> metrics = m.trainingSummary().orElseThrow().validationMetrics();
        Dataset<Row> scored = m.transform(data.where("held"));
        RegressionEvaluator e = new RegressionEvaluator().setMetricName("rmse");
        double weighted = e.setWeightCol("w").evaluate(scored);
        double plain = new RegressionEvaluator().setMetricName("rmse").evaluate(scored);
        assertEquals(weighted, metrics.get("rmse"), 1e-9);
        assertTrue(Math.abs(weighted - plain) > 1e-3, "weighted " + weighted + " vs unweighted " + plain);
    }

    @Test
    void paramIsDeclaredOnClassifierAndRegressorOnly() {
        assertTrue(java.util.Arrays.stream(new MoEClassifier().params()).map(Param::name).anyMatch("weightCol"::equals));
        assertTrue(java.util.Arrays.stream(new MoERegressionModel("r", (FittedNetwork) null, null).params()).map(Param::name).anyMatch("weightCol"::equals));
        assertTrue(java.util.Arrays.stream(new MoELanguageModelEstimator().params()).map(Param::name).noneMatch("weightCol"::equals));
        assertEquals("", new MoERegressor().getWeightCol());
    }

    /** A plain session (Spark's Java serializer): the weight column travels in the row blocks. */
    @Test
    void fitsWithWeightsInAPlainSession() throws IOException {
        SerializerSettingsTest.inSession(SerializerSettingsTest.base(), spark -> {
            Dataset<Row> data = SerializerSettingsTest.data(spark, 400, 3).withColumn("w", functions.when(functions.col("label").equalTo(1), 2.0)
                    .otherwise(0.5));
            MoEClassificationModel m = SerializerSettingsTest.classifier().setMaxSteps(4).setPlacement("sharded").setExpertShards(2)
                    .setWeightCol("w").fit(data);
            assertEquals("w", m.getWeightCol());
            assertEquals(4, m.trainingSummary().orElseThrow().taskLoss().length);
            assertEquals(data.count(), m.transform(data).count());
        });
    }
}
