package org.sparkmoe.ml;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.evaluation.RegressionEvaluator;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Instrumentation;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.BooleanType;

/**
 * The validation set of a fit ({@code validationIndicatorCol}, as MLlib's GBTs name it): the rows
 * marked true are held out of training, and the fitted model's metrics on them go into the training
 * summary (and MLlib's instrumentation log). With {@code weightCol} set, the metrics are weighted by
 * the held-out rows' weights (MLlib's evaluators' {@code weightCol}), as the training loss is.
 */
final class HeldOut {
    private HeldOut() {
    }

    /** The training rows and the held-out rows (null when {@code col} is empty). */
    static Dataset<?>[] split(Dataset<?> ds, String col) {
        if (col.isEmpty()) return new Dataset<?>[] {ds, null};
        if (!Arrays.asList(ds.schema().fieldNames()).contains(col) || !(ds.schema().apply(col).dataType() instanceof BooleanType)) {
            throw new IllegalArgumentException("column '" + col + "' (param validationIndicatorCol) must be a boolean column of the dataset; columns: "
                    + String.join(", ", ds.schema().fieldNames()));
        }
        return new Dataset<?>[] {ds.where(functions.not(functions.coalesce(functions.col(col), functions.lit(false)))),
                ds.where(functions.coalesce(functions.col(col), functions.lit(false)))};
    }

    /** A classifier's log loss, accuracy and weighted F1 on the held-out rows (example-weighted with weightCol). */
    static Map<String, Double> classification(MoEClassificationModel model, Dataset<?> heldOut, Instrumentation instr) {
        MoEClassificationModel m = model.copy(ParamMap.empty()).setPredictionCol("__moe_prediction").setProbabilityCol("__moe_probability")
                .setRawPredictionCol("").setExpertsCol("");
        Dataset<Row> scored = m.transform(heldOut).cache();
        try {
            MulticlassClassificationEvaluator e = new MulticlassClassificationEvaluator().setLabelCol(model.getLabelCol())
                    .setPredictionCol("__moe_prediction").setProbabilityCol("__moe_probability");
            if (!model.getWeightCol().isEmpty()) e.setWeightCol(model.getWeightCol());
            Map<String, Double> out = new LinkedHashMap<>();
            for (String metric : new String[] {"logLoss", "accuracy", "f1"}) out.put(metric, e.setMetricName(metric).evaluate(scored));
            return logged(out, instr);
        } finally {
            scored.unpersist();
        }
    }

    /** A regressor's RMSE, MAE and R^2 on the held-out rows (example-weighted with weightCol). */
    static Map<String, Double> regression(MoERegressionModel model, Dataset<?> heldOut, Instrumentation instr) {
        Dataset<Row> scored = model.copy(ParamMap.empty()).setPredictionCol("__moe_prediction").setExpertsCol("").transform(heldOut).cache();
        try {
            RegressionEvaluator e = new RegressionEvaluator().setLabelCol(model.getLabelCol()).setPredictionCol("__moe_prediction");
            if (!model.getWeightCol().isEmpty()) e.setWeightCol(model.getWeightCol());
            Map<String, Double> out = new LinkedHashMap<>();
            for (String metric : new String[] {"rmse", "mae", "r2"}) out.put(metric, e.setMetricName(metric).evaluate(scored));
            return logged(out, instr);
        } finally {
            scored.unpersist();
        }
    }

    /** A language model's perplexity on the held-out documents. */
    static Map<String, Double> languageModel(MoELanguageModel model, Dataset<?> heldOut, Instrumentation instr) {
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("perplexity", model.perplexity(heldOut));
        return logged(out, instr);
    }

    private static Map<String, Double> logged(Map<String, Double> metrics, Instrumentation instr) {
        metrics.forEach((k, v) -> instr.logNamedValue("validation." + k, v));
        return metrics;
    }
}
