package org.sparkmoe.ml;

import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * A fitted {@link MoERegressor}: the network spec and its parameters (held on the driver and
 * broadcast to score). transform() adds predictionCol (the predicted value) and, when set,
 * expertsCol (the experts each row was routed to, with their gate values). Rows are scored in
 * batches per partition.
 */
public final class MoERegressionModel extends MoEFeatureModel<MoERegressionModel> implements MoEParams<MoERegressionModel> {
    private static final long serialVersionUID = 1L;

    /** A model with its experts on the driver. */
    public MoERegressionModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        this(uid, spec, parameters.shared(), ExpertTable.local(parameters.experts()));
    }

    /** A model with these shared tensors and experts (local or distributed). */
    public MoERegressionModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        super(uid, spec, shared, experts, NetworkSpec.Task.REGRESSION);
    }

    @Override
    MoERegressionModel create(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        return new MoERegressionModel(uid, spec, shared, experts);
    }

    /** A reader; its {@code local()} / {@code distributed(shards)} choose where the experts go (default: as saved). */
    public static MoEModelReader<MoERegressionModel> read() {
        return new MoEModelReader<>(MoERegressionModel.class, (path, uid, spec, shared, experts) -> new MoERegressionModel(uid, spec, shared, experts));
    }

    public static MoERegressionModel load(String path) {
        return read().load(path);
    }
}
