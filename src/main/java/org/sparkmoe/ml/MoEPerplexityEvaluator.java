package org.sparkmoe.ml;

import java.util.Arrays;

import org.apache.spark.ml.evaluation.Evaluator;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.Settings;


/**
 * Corpus perplexity of documents scored by a {@link MoELanguageModel}, as a Spark ML
 * {@link Evaluator} for {@code CrossValidator} and {@code TrainValidationSplit} (Spark's built-in
 * evaluators have no perplexity). The metric is
 * {@code exp(-sum(logLikelihoodCol) / sum(numTargetsCol))} over all rows: the documents taken as one
 * corpus, so long documents weigh more, exactly as {@link MoELanguageModel#perplexity} computes it
 * (not the mean of the per-document perplexity column). Smaller is better
 * ({@link #isLargerBetter()} is false); a dataset without targets gives NaN.
 *
 * <p>The two column params (declared in {@link Settings#evaluatorParams()}) default to the model's output columns ({@code logLikelihood},
 * {@code numTargets}); the model must produce both (neither switched off with ""). Saved and loaded
 * with the standard params metadata, so tuning models that hold it can be saved too.
 *
 * <pre>{@code
 * TrainValidationSplit tvs = new TrainValidationSplit().setEstimator(lm)
 *         .setEstimatorParamMaps(new ParamGridBuilder().addGrid(lm.maxSteps(), new int[] {100, 1000}).build())
 *         .setEvaluator(new MoEPerplexityEvaluator());
 * }</pre>
 */
public final class MoEPerplexityEvaluator extends Evaluator implements MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> logLikelihoodCol;
    private final Param<String> numTargetsCol;

    public MoEPerplexityEvaluator(String uid) {
        this.uid = uid;
        logLikelihoodCol = MoEParamSet.stringParam(uid, Settings.EVALUATOR_LOG_LIKELIHOOD_COL);
        numTargetsCol = MoEParamSet.stringParam(uid, Settings.EVALUATOR_NUM_TARGETS_COL);
        setDefault(logLikelihoodCol, Settings.EVALUATOR_LOG_LIKELIHOOD_COL.defaultValue());
        setDefault(numTargetsCol, Settings.EVALUATOR_NUM_TARGETS_COL.defaultValue());
    }

    public MoEPerplexityEvaluator() {
        this(Identifiable$.MODULE$.randomUID("moePerplexityEval"));
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> logLikelihoodCol() {
        return logLikelihoodCol;
    }

    public String getLogLikelihoodCol() {
        return (String) getOrDefault(logLikelihoodCol);
    }

    public MoEPerplexityEvaluator setLogLikelihoodCol(String value) {
        set(logLikelihoodCol, value);
        return this;
    }

    public Param<String> numTargetsCol() {
        return numTargetsCol;
    }

    public String getNumTargetsCol() {
        return (String) getOrDefault(numTargetsCol);
    }

    public MoEPerplexityEvaluator setNumTargetsCol(String value) {
        set(numTargetsCol, value);
        return this;
    }

    /** Corpus perplexity {@code exp(-sum logLikelihood / sum numTargets)}; NaN when there are no targets. */
    @Override
    public double evaluate(Dataset<?> dataset) {
        StructType schema = dataset.schema();
        requireNumeric(schema, "logLikelihoodCol", getLogLikelihoodCol());
        requireNumeric(schema, "numTargetsCol", getNumTargetsCol());
        Row r = dataset.agg(functions.sum(functions.col(getLogLikelihoodCol()).cast("double")),
                functions.sum(functions.col(getNumTargetsCol()).cast("long"))).head();
        if (r.isNullAt(1) || r.getLong(1) == 0) return Double.NaN;
        return Math.exp(-r.getDouble(0) / r.getLong(1));
    }

    private static void requireNumeric(StructType schema, String param, String col) {
        if (!Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") does not exist; available columns: "
                    + String.join(", ", schema.fieldNames()) + " (transform with a MoELanguageModel first)");
        }
        if (!(schema.apply(col).dataType() instanceof NumericType)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") must be numeric, got "
                    + schema.apply(col).dataType().simpleString());
        }
    }

    /** Smaller perplexity is better. */
    @Override
    public boolean isLargerBetter() {
        return false;
    }

    @Override
    public MoEPerplexityEvaluator copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    @Override
    public MLWriter write() {
        return new DefaultParamsWriter(this);
    }

    public static MLReader<MoEPerplexityEvaluator> read() {
        return new DefaultParamsReader<>();
    }

    public static MoEPerplexityEvaluator load(String path) {
        return read().load(path);
    }

    @Override
    public String toString() {
        return "MoEPerplexityEvaluator: uid=" + uid + ", logLikelihoodCol=" + getLogLikelihoodCol() + ", numTargetsCol="
                + getNumTargetsCol();
    }
}
