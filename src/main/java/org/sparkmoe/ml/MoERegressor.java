package org.sparkmoe.ml;

import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * Sparsely-gated mixture-of-experts regressor (one real-valued target, squared error) trained
 * data-parallel on Spark. The label column is numeric; features is a Vector column.
 *
 * <p>fit() turns the rows into row blocks on the executors (nothing is collected; example ids are
 * the rows' positions from {@code zipWithIndex}, so training is deterministic for a deterministic
 * input order and seed), trains {@code maxSteps} steps with the Spark engine and returns a
 * {@link MoERegressionModel}. Warm start: {@link #setInitialModelPath} (persisted) or
 * {@link #setInitialModel} (in-memory, not persisted; takes precedence).
 */
public final class MoERegressor extends MoEEstimatorBase<MoERegressionModel, MoERegressor> implements MoEParams<MoERegressor> {
    private static final long serialVersionUID = 1L;

    public MoERegressor(String uid) {
        super(uid);
        moeParams().applyDefaults(this, false);
    }

    public MoERegressor() {
        this(Identifiable$.MODULE$.randomUID("moeRegressor"));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.fitSchema(schema, this, false);
    }

    @Override
    public MoERegressionModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        int dim = FeatureBlocks.featureDim(dataset, getFeaturesCol());
        NetworkSpec spec = ParamsConfig.spec(this, NetworkSpec.Task.REGRESSION, dim, 1);
        Fitting.WarmStart warm = warmStart(getInitialModelPath(), MoERegressionModel::load);
        Fitting.Trained t = Fitting.train(dataset, this, spec,
                FeatureBlocks.blocks(dataset, getFeaturesCol(), getLabelCol(), dim, 0), warm);
        MoERegressionModel model = new MoERegressionModel(uid(), t.spec(), t.shared(), t.experts());
        copyValues(model, ParamMap.empty());
        model.setParent(this);
        return model;
    }

    public static MLReader<MoERegressor> read() {
        return new MoEPersistence.ParamsReader<>(MoERegressor.class, MoERegressor::new);
    }

    public static MoERegressor load(String path) {
        return read().load(path);
    }
}
