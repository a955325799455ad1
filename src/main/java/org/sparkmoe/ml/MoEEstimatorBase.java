package org.sparkmoe.ml;

import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;

/**
 * What the estimators share: the uid, the MoE params, an optional in-memory warm-start model
 * (not persisted; it takes precedence over {@code initialModelPath}) and params persistence.
 */
abstract class MoEEstimatorBase<M extends Model<M>, S extends MoEEstimatorBase<M, S>> extends Estimator<M>
        implements MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private transient M initialModel;

    MoEEstimatorBase(String uid) {
        this.uid = uid;
        this.ps = new MoEParamSet(uid);
    }

    @Override
    public String uid() {
        return uid;
    }

    public MoEParamSet moeParams() {
        return ps;
    }

    /** Warm start from a fitted model held in memory (not saved with the estimator). */
    @SuppressWarnings("unchecked")
    public S setInitialModel(M model) {
        this.initialModel = model;
        return (S) this;
    }

    public M getInitialModel() {
        return initialModel;
    }

    /**
     * The warm-start parameters and where they came from: the in-memory model, else the model saved
     * at {@code initialModelPath} (loaded with {@code load}), else null.
     */
    Fitting.WarmStart warmStart(String initialModelPath, java.util.function.Function<String, ? extends MoEPersistence.Weights> load) {
        if (initialModel != null) {
            return Fitting.WarmStart.of((MoEPersistence.Weights) initialModel, "initialModel " + initialModel.uid());
        }
        if (!initialModelPath.isEmpty()) {
            return Fitting.WarmStart.of(load.apply(initialModelPath), initialModelPath);
        }
        return Fitting.WarmStart.NONE;
    }

    @Override
    @SuppressWarnings("unchecked")
    public S copy(ParamMap extra) {
        S c = defaultCopy(extra);
        ((MoEEstimatorBase<M, S>) c).initialModel = initialModel;
        return c;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ParamsWriter(this);
    }
}
