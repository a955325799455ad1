package org.sparkmoe.ml;

import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * Sparsely-gated mixture-of-experts classifier trained data-parallel on Spark. The label column
 * holds class indices 0..C-1 (the class count is taken from the label's nominal attribute, e.g. set
 * by StringIndexer, or else 1 + the largest label); features is a Vector column.
 *
 * <p>fit() turns the rows into row blocks on the executors (nothing is collected; example ids are
 * the rows' positions from {@code zipWithIndex}, so training is deterministic for a deterministic
 * input order and seed), trains {@code maxSteps} steps with the Spark engine and returns a
 * {@link MoEClassificationModel}. Warm start: {@link #setInitialModelPath} (persisted) or
 * {@link #setInitialModel} (in-memory, not persisted; takes precedence).
 */
public final class MoEClassifier extends MoEEstimatorBase<MoEClassificationModel, MoEClassifier> implements MoEClassifierParams<MoEClassifier> {
    private static final long serialVersionUID = 1L;

    public MoEClassifier(String uid) {
        super(uid);
        moeParams().applyDefaults(this, true);
    }

    public MoEClassifier() {
        this(Identifiable$.MODULE$.randomUID("moeClassifier"));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.fitSchema(schema, this, true);
    }

    @Override
    public MoEClassificationModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        int dim = FeatureBlocks.featureDim(dataset, getFeaturesCol());
        int classes = FeatureBlocks.numClasses(dataset, getLabelCol());
        NetworkSpec spec = ParamsConfig.spec(this, NetworkSpec.Task.CLASSIFICATION, dim, classes);
        Fitting.WarmStart warm = warmStart(getInitialModelPath(), MoEClassificationModel::load);
        Fitting.Trained t = Fitting.train(dataset, this, spec,
                FeatureBlocks.blocks(dataset, getFeaturesCol(), getLabelCol(), dim, classes), warm);
        MoEClassificationModel model = new MoEClassificationModel(uid(), t.spec(), t.shared(), t.experts());
        copyValues(model, ParamMap.empty());
        model.setParent(this);
        return model;
    }

    public static MLReader<MoEClassifier> read() {
        return new MoEPersistence.ParamsReader<>(MoEClassifier.class, MoEClassifier::new);
    }

    public static MoEClassifier load(String path) {
        return read().load(path);
    }
}
