package org.sparkmoe.ml;

import org.apache.spark.ml.util.MLReader;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * A fitted {@link MoEClassifier}: the network spec and its parameters (held on the driver and
 * broadcast to score). transform() adds, for each column param that is non-empty,
 * rawPredictionCol (log class probabilities), probabilityCol (class probabilities), predictionCol
 * (the most probable class index, as double) and expertsCol (the experts each row was routed to,
 * with their gate values; off by default). Rows are scored in batches per partition.
 */
public final class MoEClassificationModel extends MoEFeatureModel<MoEClassificationModel> implements MoEClassifierParams<MoEClassificationModel> {
    private static final long serialVersionUID = 1L;

    public MoEClassificationModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        super(uid, spec, parameters, NetworkSpec.Task.CLASSIFICATION);
    }

    @Override
    MoEClassificationModel create(String uid, NetworkSpec spec, ModelParameters parameters) {
        return new MoEClassificationModel(uid, spec, parameters);
    }

    public int numClasses() {
        return spec().outputs();
    }

    public static MLReader<MoEClassificationModel> read() {
        return new MoEPersistence.ModelReader<>(MoEClassificationModel.class, MoEClassificationModel::new);
    }

    public static MoEClassificationModel load(String path) {
        return read().load(path);
    }
}
