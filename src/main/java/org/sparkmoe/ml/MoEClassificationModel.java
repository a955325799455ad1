package org.sparkmoe.ml;

import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * A fitted {@link MoEClassifier}: the network spec and its parameters (held on the driver and
 * broadcast to score). transform() adds, for each column param that is non-empty,
 * rawPredictionCol (log class probabilities), probabilityCol (class probabilities), predictionCol
 * (the most probable class index, as double) and expertsCol (the experts each row was routed to,
 * with their gate values; off by default). Rows are scored in batches per partition.
 */
public final class MoEClassificationModel extends MoEFeatureModel<MoEClassificationModel> implements MoEClassifierParams<MoEClassificationModel> {
    private static final long serialVersionUID = 1L;

    /** A model with its experts on the driver. */
    public MoEClassificationModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        this(uid, spec, parameters.shared(), ExpertTable.local(parameters.experts()));
    }

    /** A model with these shared tensors and experts (local or distributed). */
    public MoEClassificationModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        super(uid, spec, shared, experts, NetworkSpec.Task.CLASSIFICATION);
    }

    @Override
    MoEClassificationModel create(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        return new MoEClassificationModel(uid, spec, shared, experts);
    }

    public int numClasses() {
        return spec().outputs();
    }

    /** A reader; its {@code local()} / {@code distributed(shards)} choose where the experts go (default: as saved). */
    public static MoEModelReader<MoEClassificationModel> read() {
        return new MoEModelReader<>(MoEClassificationModel.class, (path, uid, spec, shared, experts) -> new MoEClassificationModel(uid, spec, shared, experts));
    }

    public static MoEClassificationModel load(String path) {
        return read().load(path);
    }
}
