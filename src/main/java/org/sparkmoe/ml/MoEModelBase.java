package org.sparkmoe.ml;

import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * What every fitted MoE model has: the uid, the MoE params, the network spec, its shared tensors
 * (input layer, gating network, head; on the driver, broadcast to score) and its experts, an
 * {@link ExpertTable} either on the driver or distributed over the executors. A model fitted with
 * placement "sharded" keeps its experts where training left them, distributed; one fitted with
 * placement "driver" holds them locally. {@link #toLocal()} and {@link #toDistributed(int)} move
 * them; {@link #transform} scores with the task's {@link ScoringCodec} on either path.
 */
abstract class MoEModelBase<M extends MoEModelBase<M>> extends Model<M> implements MLWritable, MoEPersistence.Weights {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final NetworkSpec spec;
    private final Parameters shared;
    private final ExpertTable experts;

    MoEModelBase(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        MoENetwork net = spec.build();
        if (!shared.layout().equals(net.sharedLayout()) || experts.numExperts() != net.numExperts()) {
            throw new IllegalArgumentException("parameters (" + experts.numExperts() + " experts, shared " + shared.layout()
                    + ") do not fit the network spec (" + net.numExperts() + " experts, shared " + net.sharedLayout() + ")");
        }
        this.uid = uid;
        this.spec = spec;
        this.shared = shared;
        this.experts = experts;
        this.ps = new MoEParamSet(uid);
    }

    /** A model of the concrete type with these experts and everything else of this one but its params. */
    abstract M withExperts(ExpertTable experts);

    /** The task's scoring codec for this input schema. */
    abstract ScoringCodec codec(StructType schema);

    @Override
    public String uid() {
        return uid;
    }

    public MoEParamSet moeParams() {
        return ps;
    }

    @Override
    public NetworkSpec spec() {
        return spec;
    }

    /**
     * All parameters on the driver. For a model with distributed experts this fails (it would gather
     * every expert on the driver): call {@link #toLocal()} first when that is what you want.
     */
    @Override
    public ModelParameters parameters() {
        return experts.withShared(shared, uid);
    }

    @Override
    public Parameters sharedParameters() {
        return shared;
    }

    @Override
    public ExpertTable experts() {
        return experts;
    }

    /** Whether the experts live on the executors. */
    public boolean isDistributed() {
        return experts.isDistributed();
    }

    /** The same model with its experts on the driver (gathers a distributed table; this model is unchanged). */
    public M toLocal() {
        return copied(withExperts(experts.gathered()), ParamMap.empty());
    }

    /**
     * The same model with its experts distributed over {@code shards} shards (at most the expert
     * count) of the active SparkContext; this model is unchanged.
     */
    public M toDistributed(int shards) {
        return copied(withExperts(experts.distributedOn(shards)), ParamMap.empty());
    }

    /** Frees the cached experts of a distributed model (it cannot score afterwards; no-op when local). */
    public void unpersist() {
        experts.unpersist();
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        ScoringCodec codec = codec(dataset.schema());
        if (experts instanceof ExpertTable.Distributed d) {
            return DistributedScoring.transform(dataset, out, spec, shared, d, codec);
        }
        return BroadcastScoring.transform(dataset, out, spec, new ModelParameters(shared, experts.toArray()), codec);
    }

    @Override
    public M copy(ParamMap extra) {
        return copied(withExperts(experts), extra);
    }

    private M copied(M m, ParamMap extra) {
        copyValues(m, extra);
        if (hasParent()) m.setParent(parent());
        return m;
    }
}
