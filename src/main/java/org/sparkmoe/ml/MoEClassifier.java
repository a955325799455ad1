package org.sparkmoe.ml;

import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
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
public final class MoEClassifier extends Estimator<MoEClassificationModel>
        implements MoEClassifierParams<MoEClassifier>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private transient MoEClassificationModel initialModel;

    public MoEClassifier(String uid) {
        this.uid = uid;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, true);
    }

    public MoEClassifier() {
        this(Identifiable$.MODULE$.randomUID("moeClassifier"));
    }

    @Override
    public String uid() {
        return uid;
    }

    @Override
    public MoEParamSet moeParams() {
        return ps;
    }

    /** Warm start from a fitted model held in memory (not saved with the estimator). */
    public MoEClassifier setInitialModel(MoEClassificationModel model) {
        this.initialModel = model;
        return this;
    }

    public MoEClassificationModel getInitialModel() {
        return initialModel;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return MoESupport.fitSchema(schema, this, true);
    }

    @Override
    public MoEClassificationModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        int dim = MoESupport.featureDim(dataset, getFeaturesCol());
        int classes = MoESupport.numClasses(dataset, getLabelCol());
        NetworkSpec spec = MoESupport.spec(this, NetworkSpec.Task.CLASSIFICATION, dim, classes);
        ModelParameters init = null;
        String where = null;
        if (initialModel != null) {
            init = initialModel.parameters();
            where = "initialModel " + initialModel.uid();
        } else if (!getInitialModelPath().isEmpty()) {
            init = MoEClassificationModel.load(getInitialModelPath()).parameters();
            where = getInitialModelPath();
        }
        MoESupport.Trained t = MoESupport.train(dataset, this, spec,
                MoESupport.blocks(dataset, getFeaturesCol(), getLabelCol(), dim, classes), init, where);
        MoEClassificationModel model = new MoEClassificationModel(uid, t.spec(), t.parameters());
        copyValues(model, ParamMap.empty());
        model.setParent(this);
        return model;
    }

    @Override
    public MoEClassifier copy(ParamMap extra) {
        MoEClassifier c = defaultCopy(extra);
        c.initialModel = initialModel;
        return c;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ParamsWriter(this);
    }

    public static MLReader<MoEClassifier> read() {
        return new MoEPersistence.ParamsReader<>(MoEClassifier.class, MoEClassifier::new);
    }

    public static MoEClassifier load(String path) {
        return read().load(path);
    }
}
