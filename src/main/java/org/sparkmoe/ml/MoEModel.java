package org.sparkmoe.ml;

import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * What every fitted MoE model has, whatever MLlib base class it extends: the network spec, its
 * shared tensors (on the driver, broadcast to score) and its experts, an {@link ExpertTable} either
 * on the driver or distributed over the executors. A model fitted with placement "sharded" keeps
 * its experts where training left them, distributed; one fitted with placement "driver" holds them
 * locally. {@link #toLocal()} and {@link #toDistributed(int)} move them; transform scores on
 * either path.
 *
 * @param <M> the model class
 */
public interface MoEModel<M extends MoEModel<M>> extends MoEPersistence.Weights {

    /** The network and its parameters (package internals). */
    FittedNetwork network();

    /** A new model of this class with this one's uid, {@code network} and {@code summary}; no params set. */
    M create(FittedNetwork network, MoETrainingSummary summary);

    /** A model of this class with {@code network}, this one's uid, summary, params and parent. */
    default M withNetwork(FittedNetwork network) {
        return copied(create(network, trainingSummary().orElse(null)), org.apache.spark.ml.param.ParamMap.empty());
    }

    /** {@code m} with this model's params (overridden by {@code extra}) and parent: what each model's {@code copy} returns. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    default M copied(M m, org.apache.spark.ml.param.ParamMap extra) {
        org.apache.spark.ml.Model self = (org.apache.spark.ml.Model) this;
        self.copyValues((org.apache.spark.ml.Model) m, extra);
        if (self.hasParent()) ((org.apache.spark.ml.Model) m).setParent(self.parent());
        return m;
    }

    /** The training summary of the fit that produced this model, if there was one in this JVM. */
    java.util.Optional<MoETrainingSummary> trainingSummary();

    /** Whether {@link #summary()} is available (a model fitted in this JVM; not one loaded from disk). */
    default boolean hasSummary() {
        return trainingSummary().isPresent();
    }

    /** The training summary; fails for a model without one ({@link #hasSummary()}). */
    default MoETrainingSummary summary() {
        return trainingSummary().orElseThrow(() -> new IllegalStateException(
                "no training summary: this model was not fitted in this session (loaded, or built from parameters)"));
    }

    @Override
    default NetworkSpec spec() {
        return network().spec();
    }

    /**
     * All parameters on the driver. For a model with distributed experts this fails (it would gather
     * every expert on the driver): call {@link #toLocal()} first when that is what you want.
     */
    @Override
    default ModelParameters parameters() {
        return network().parameters(((org.apache.spark.ml.util.Identifiable) this).uid());
    }

    @Override
    default Parameters sharedParameters() {
        return network().shared();
    }

    @Override
    default ExpertTable experts() {
        return network().experts();
    }

    /** Whether the experts live on the executors. */
    default boolean isDistributed() {
        return experts().isDistributed();
    }

    /** The same model with its experts on the driver (gathers a distributed table; this model is unchanged). */
    default M toLocal() {
        return withNetwork(network().withExperts(experts().gathered()));
    }

    /**
     * The same model with its experts distributed over {@code shards} shards (at most the expert
     * count) of the active SparkContext; this model is unchanged.
     */
    default M toDistributed(int shards) {
        return withNetwork(network().withExperts(experts().distributedOn(shards)));
    }

    /** Frees the cached experts of a distributed model (it cannot score afterwards; no-op when local). */
    default void unpersist() {
        experts().unpersist();
    }
}
