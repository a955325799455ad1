package org.sparkmoe.ml;

import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * What the fitted classification and regression models share: the network spec, its shared tensors
 * (input layer, gating network, head; on the driver, broadcast to score) and its experts, an
 * {@link ExpertTable} either on the driver or distributed over the executors; the MoE params, batch
 * scoring per partition and persistence. A model fitted with placement "sharded" keeps its experts
 * where training left them, distributed; one fitted with placement "driver" holds them locally.
 * {@link #toLocal()} and {@link #toDistributed(int)} move them. Subclasses fix the task and their
 * concrete type.
 */
abstract class MoEFeatureModel<M extends MoEFeatureModel<M>> extends Model<M> implements MLWritable, MoEPersistence.Weights {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final NetworkSpec spec;
    private final Parameters shared;
    private final ExpertTable experts;
    private final boolean classifier;

    MoEFeatureModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts, NetworkSpec.Task task) {
        if (spec.task() != task) {
            throw new IllegalArgumentException("a " + task.name().toLowerCase() + " model needs a " + task
                    + " network spec, got " + spec.task());
        }
        MoENetwork net = spec.build();
        if (!shared.layout().equals(net.sharedLayout()) || experts.numExperts() != net.numExperts()) {
            throw new IllegalArgumentException("parameters (" + experts.numExperts() + " experts, shared " + shared.layout()
                    + ") do not fit the network spec (" + net.numExperts() + " experts, shared " + net.sharedLayout() + ")");
        }
        this.uid = uid;
        this.spec = spec;
        this.shared = shared;
        this.experts = experts;
        this.classifier = task == NetworkSpec.Task.CLASSIFICATION;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, classifier);
    }

    /** A model of the concrete type with these fields (for copy and moving the experts). */
    abstract M create(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts);

    private MoEParams<?> asMoEParams() {
        return (MoEParams<?>) this;
    }

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

    public int numFeatures() {
        return spec.inputDim();
    }

    /** The same model with its experts on the driver (gathers a distributed table; this model is unchanged). */
    public M toLocal() {
        return moved(experts.gathered());
    }

    /**
     * The same model with its experts distributed over {@code shards} shards (at most the expert
     * count) of the active SparkContext; this model is unchanged.
     */
    public M toDistributed(int shards) {
        return moved(experts.distributedOn(shards));
    }

    /** Frees the cached experts of a distributed model (it cannot score afterwards; no-op when local). */
    public void unpersist() {
        experts.unpersist();
    }

    private M moved(ExpertTable table) {
        M m = copyValues(create(uid, spec, shared, table), ParamMap.empty());
        if (hasParent()) m.setParent(parent());
        return m;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return MoESupport.outputSchema(schema, asMoEParams(), classifier);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        ScoringCodec codec = new MoESupport.FeatureCodec(dataset.schema(), asMoEParams(), classifier, spec.inputDim());
        if (experts instanceof ExpertTable.Distributed d) {
            return DistributedScoring.transform(dataset, out, spec, shared, d, codec);
        }
        return MoESupport.transform(dataset, out, spec, new ModelParameters(shared, experts.toArray()), codec);
    }

    @Override
    public M copy(ParamMap extra) {
        M m = copyValues(create(uid, spec, shared, experts), extra);
        if (hasParent()) m.setParent(parent());
        return m;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this);
    }
}
