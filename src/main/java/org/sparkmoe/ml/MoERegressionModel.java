package org.sparkmoe.ml;

import org.apache.spark.ml.util.MLReader;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * A fitted {@link MoERegressor}: the network spec and its parameters (held on the driver and
 * broadcast to score). transform() adds predictionCol (the predicted value) and, when set,
 * expertsCol (the experts each row was routed to, with their gate values). Rows are scored in
 * batches per partition.
 */
public final class MoERegressionModel extends MoEFeatureModel<MoERegressionModel> implements MoEParams<MoERegressionModel> {
    private static final long serialVersionUID = 1L;

    public MoERegressionModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        super(uid, spec, parameters, NetworkSpec.Task.REGRESSION);
    }

    @Override
    MoERegressionModel create(String uid, NetworkSpec spec, ModelParameters parameters) {
        return new MoERegressionModel(uid, spec, parameters);
    }

    public static MLReader<MoERegressionModel> read() {
        return new MoEPersistence.ModelReader<>(MoERegressionModel.class, MoERegressionModel::new);
    }

    public static MoERegressionModel load(String path) {
        return read().load(path);
    }
}
