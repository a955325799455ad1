package org.sparkmoe.ml;

/**
 * An estimator's in-memory warm-start model (not persisted with the estimator; it takes precedence
 * over {@code initialModelPath}).
 */
final class InitialModel<M extends MoEModel<M>> implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private transient M model;

    M get() {
        return model;
    }

    void set(M m) {
        model = m;
    }

    /** A holder with the same model, for the estimator's copy. */
    InitialModel<M> copy() {
        InitialModel<M> c = new InitialModel<>();
        c.model = model;
        return c;
    }

    /**
     * The warm-start parameters and where they came from: the in-memory model, else the model saved
     * at {@code path} (loaded with {@code load}), else none.
     */
    Fitting.WarmStart warmStart(String path, java.util.function.Function<String, M> load) {
        if (model != null) return Fitting.WarmStart.of(model, "initialModel " + ((org.apache.spark.ml.util.Identifiable) model).uid());
        if (!path.isEmpty()) return Fitting.WarmStart.of(load.apply(path), path);
        return Fitting.WarmStart.NONE;
    }
}
