package org.sparkmoe.ml;

import java.util.Map;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.regression.Regressor;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * Sparsely-gated mixture-of-experts regressor (one real-valued target, squared error) trained
 * data-parallel on Spark; an MLlib {@link Regressor}. The label column is numeric; features is a
 * Vector column.
 *
 * <p>fit() turns the rows into row blocks on the executors (nothing is collected; example ids are
 * the rows' positions from {@code zipWithIndex}, so training is deterministic for a deterministic
 * input order and seed), trains {@code maxSteps} steps with the Spark engine and returns a
 * {@link MoERegressionModel} with a {@link MoETrainingSummary}. It runs inside the caller's job
 * group and stops when that group is cancelled (see {@link Fitting#instrumented}). Warm start:
 * {@link #setInitialModelPath} (persisted) or {@link #setInitialModel} (in-memory, not persisted;
 * takes precedence).
 */
public final class MoERegressor extends Regressor<Vector, MoERegressor, MoERegressionModel> implements MoESupervisedParams<MoERegressor>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private InitialModel<MoERegressionModel> initial = new InitialModel<>();

    public MoERegressor(String uid) {
        this(PendingUid.hold(uid), true);
    }

    private MoERegressor(String uid, boolean pending) {
        this.uid = uid;
        PendingUid.release();
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, false);
    }

    public MoERegressor() {
        this(Identifiable$.MODULE$.randomUID("moeRegressor"));
    }

    @Override
    public String uid() {
        return PendingUid.resolve(uid);
    }

    @Override
    public MoEParamSet moeParams() {
        return ps;
    }

    /** Warm start from a fitted model held in memory (not saved with the estimator). */
    public MoERegressor setInitialModel(MoERegressionModel model) {
        initial.set(model);
        return this;
    }

    public MoERegressionModel getInitialModel() {
        return initial.get();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.fitSchema(schema, this, false);
    }

    @Override
    public MoERegressionModel train(Dataset<?> dataset) {
        return Fitting.instrumented(this, dataset, (instr, fit) -> {
            Dataset<?>[] parts = HeldOut.split(dataset, getValidationIndicatorCol());
            int dim = FeatureBlocks.featureDim(dataset, getFeaturesCol());
            instr.logNumFeatures(dim);
            NetworkSpec spec = ParamsConfig.spec(this, NetworkSpec.Task.REGRESSION, dim, 1);
            Fitting.Trained t = Fitting.train(dataset, this, spec, FeatureBlocks.blocks(parts[0], getFeaturesCol(), getLabelCol(), getWeightCol(), dim, 0),
                    initial.warmStart(getInitialModelPath(), MoERegressionModel::load), fit);
            Map<String, Double> validation = parts[1] == null ? Map.of()
                    : HeldOut.regression(copyValues(new MoERegressionModel(uid(), t.network(), null), ParamMap.empty()), parts[1], instr);
            return copyValues(new MoERegressionModel(uid(), t.network(), new MoETrainingSummary(t.history(), validation)), ParamMap.empty());
        });
    }

    @Override
    public MoERegressor copy(ParamMap extra) {
        MoERegressor c = defaultCopy(extra);
        c.initial = initial.copy();
        return c;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ParamsWriter(this);
    }

    public static MLReader<MoERegressor> read() {
        return new MoEPersistence.ParamsReader<>(MoERegressor.class, MoERegressor::new);
    }

    public static MoERegressor load(String path) {
        return read().load(path);
    }

    @Override
    public String toString() {
        return Describe.estimator(this);
    }
}
