package org.sparkmoe.ml;

import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * What the fitted classification and regression models share besides {@link MoEModelBase}: the
 * feature codec and the output schema. Subclasses fix the task and their concrete type.
 */
abstract class MoEFeatureModel<M extends MoEFeatureModel<M>> extends MoEModelBase<M> {
    private static final long serialVersionUID = 1L;

    private final boolean classifier;

    MoEFeatureModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts, NetworkSpec.Task task) {
        super(uid, checked(spec, task), shared, experts);
        this.classifier = task == NetworkSpec.Task.CLASSIFICATION;
        moeParams().applyDefaults(this, classifier);
    }

    private static NetworkSpec checked(NetworkSpec spec, NetworkSpec.Task task) {
        if (spec.task() != task) {
            throw new IllegalArgumentException("a " + task.name().toLowerCase() + " model needs a " + task
                    + " network spec, got " + spec.task());
        }
        return spec;
    }

    /** A model of the concrete type with these fields. */
    abstract M create(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts);

    @Override
    M withExperts(ExpertTable experts) {
        return create(uid(), spec(), sharedParameters(), experts);
    }

    public int numFeatures() {
        return spec().inputDim();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.outputSchema(schema, (MoEParams<?>) this, classifier);
    }

    @Override
    ScoringCodec codec(StructType schema) {
        return new FeatureCodec(schema, (MoEParams<?>) this, classifier, spec().inputDim());
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this, null);
    }
}
