package org.sparkmoe.ml;

import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * What the fitted classification and regression models share: the network spec and its
 * parameters (held on the driver, broadcast to score), the MoE params, batch scoring per partition
 * and persistence. Subclasses fix the task and their concrete type.
 */
abstract class MoEFeatureModel<M extends MoEFeatureModel<M>> extends Model<M> implements MLWritable, MoEPersistence.Weights {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final NetworkSpec spec;
    private final transient ModelParameters parameters;
    private final boolean classifier;

    MoEFeatureModel(String uid, NetworkSpec spec, ModelParameters parameters, NetworkSpec.Task task) {
        if (spec.task() != task) {
            throw new IllegalArgumentException("a " + task.name().toLowerCase() + " model needs a " + task
                    + " network spec, got " + spec.task());
        }
        this.uid = uid;
        this.spec = spec;
        this.parameters = parameters;
        this.classifier = task == NetworkSpec.Task.CLASSIFICATION;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, classifier);
    }

    /** A model of the concrete type with these fields (for copy). */
    abstract M create(String uid, NetworkSpec spec, ModelParameters parameters);

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

    @Override
    public ModelParameters parameters() {
        return parameters;
    }

    public int numFeatures() {
        return spec.inputDim();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return MoESupport.outputSchema(schema, asMoEParams(), classifier);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        return MoESupport.transform(dataset, asMoEParams(), classifier, spec, parameters);
    }

    @Override
    public M copy(ParamMap extra) {
        M m = copyValues(create(uid, spec, parameters), extra);
        if (hasParent()) m.setParent(parent());
        return m;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this);
    }
}
