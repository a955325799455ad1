package org.sparkmoe.ml;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.Scorer;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * What a fitted model is besides its params: the network spec, its shared tensors (input layer,
 * gating network, head; on the driver, broadcast to score) and its experts, an {@link ExpertTable}
 * on the driver or distributed over the executors. Immutable: moving the experts gives a new one.
 * Each model class holds one and delegates to it (the models extend MLlib's base classes, so they
 * cannot share a superclass of ours).
 */
final class FittedNetwork implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final NetworkSpec spec;
    private final Parameters shared;
    private final ExpertTable experts;
    /** The driver-side scorer of single-row predictions, built on first use. */
    private transient Scorer single;

    FittedNetwork(NetworkSpec spec, Parameters shared, ExpertTable experts, NetworkSpec.Task task) {
        if (spec.task() != task) {
            throw new IllegalArgumentException("a " + task.name().toLowerCase() + " model needs a " + task
                    + " network spec, got " + spec.task());
        }
        MoENetwork net = spec.build();
        if (!shared.layout().equals(net.sharedLayout()) || experts.numExperts() != net.numExperts()) {
            throw new IllegalArgumentException("parameters (" + experts.numExperts() + " experts, shared " + shared.layout()
                    + ") do not fit the network spec (" + net.numExperts() + " experts, shared " + net.sharedLayout() + ")");
        }
        this.spec = spec;
        this.shared = shared;
        this.experts = experts;
    }

    NetworkSpec spec() {
        return spec;
    }

    Parameters shared() {
        return shared;
    }

    ExpertTable experts() {
        return experts;
    }

    /** All parameters on the driver; fails for distributed experts (see {@link MoEModel#parameters()}). */
    ModelParameters parameters(String uid) {
        return experts.withShared(shared, uid);
    }

    FittedNetwork withExperts(ExpertTable e) {
        return new FittedNetwork(spec, shared, e, spec.task());
    }

    /** Scores {@code dataset} into rows of schema {@code out} with {@code codec}, broadcast or distributed as the experts are. */
    Dataset<Row> transform(Dataset<?> dataset, StructType out, ScoringCodec codec) {
        if (experts instanceof ExpertTable.Distributed d) {
            return DistributedScoring.transform(dataset, out, spec, shared, d, codec);
        }
        return BroadcastScoring.transform(dataset, out, spec, new ModelParameters(shared, experts.toArray()), codec);
    }

    /**
     * The head's outputs for one feature vector (probabilities, or the regression value), on the
     * driver through the same {@link Scorer} as transform; needs the experts on the driver.
     */
    synchronized double[] predictOne(Vector features, String uid) {
        if (single == null) single = new Scorer(spec, parameters(uid));
        Matrix x = single.precision().zeros(1, spec.inputDim());
        FeatureCodec.features(org.apache.spark.sql.RowFactory.create(features), 0, "features", spec.inputDim(), x, 0);
        double[] out = new double[spec.outputs()];
        single.score(Batch.ofFeatures(1, new long[1], x, (int[]) null), (chunk, from, o, gates) -> {
            for (int c = 0; c < out.length; c++) out[c] = o.get(0, c);
        });
        return out;
    }
}
