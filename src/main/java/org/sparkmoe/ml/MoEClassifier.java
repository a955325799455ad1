package org.sparkmoe.ml;

import java.util.Map;

import org.apache.spark.ml.classification.ProbabilisticClassifier;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * Sparsely-gated mixture-of-experts classifier (Shazeer et al. 2017) trained data-parallel on
 * Spark; an MLlib {@link ProbabilisticClassifier} (thresholds, rawPrediction, probability; usable in
 * {@code OneVsRest}, pipelines and cross-validation). The label column holds class indices 0..C-1
 * (the class count is taken from the label's nominal attribute, e.g. set by StringIndexer, or else
 * 1 + the largest label); features is a Vector column.
 *
 * <p>fit() turns the rows into row blocks on the executors (nothing is collected; example ids are
 * the rows' positions from {@code zipWithIndex}, so training is deterministic for a deterministic
 * input order and seed), trains {@code maxSteps} steps with the Spark engine and returns a
 * {@link MoEClassificationModel} with a {@link MoETrainingSummary}. It runs inside the caller's
 * job group and stops when that group is cancelled (see {@link Fitting#instrumented}). Warm start:
 * {@link #setInitialModelPath} (persisted) or {@link #setInitialModel} (in-memory, not persisted;
 * takes precedence).
 */
public final class MoEClassifier extends ProbabilisticClassifier<Vector, MoEClassifier, MoEClassificationModel>
        implements MoEClassifierParams<MoEClassifier>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private InitialModel<MoEClassificationModel> initial = new InitialModel<>();

    public MoEClassifier(String uid) {
        this(PendingUid.hold(uid), true);
    }

    private MoEClassifier(String uid, boolean pending) {
        this.uid = uid;
        PendingUid.release();
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, true);
    }

    public MoEClassifier() {
        this(Identifiable$.MODULE$.randomUID("moeClassifier"));
    }

    @Override
    public String uid() {
        return PendingUid.resolve(uid);
    }

    @Override
    public MoEParamSet moeParams() {
        return ps;
    }

    /** Warm start from a fitted model held in memory (not saved with the estimator). */
    public MoEClassifier setInitialModel(MoEClassificationModel model) {
        initial.set(model);
        return this;
    }

    public MoEClassificationModel getInitialModel() {
        return initial.get();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.fitSchema(schema, this, true);
    }

    @Override
    public MoEClassificationModel train(Dataset<?> dataset) {
        return Fitting.instrumented(this, dataset, (instr, fit) -> {
            Dataset<?>[] parts = HeldOut.split(dataset, getValidationIndicatorCol());
            int[] shape = FeatureBlocks.featureDimAndClasses(dataset, getFeaturesCol(), getLabelCol());
            int dim = shape[0];
            int classes = shape[1];
            instr.logNumFeatures(dim);
            instr.logNumClasses(classes);
            NetworkSpec spec = ParamsConfig.spec(this, NetworkSpec.Task.CLASSIFICATION, dim, classes);
            Fitting.Trained t = Fitting.train(dataset, this, spec, FeatureBlocks.blocks(parts[0], getFeaturesCol(), getLabelCol(), getWeightCol(), dim, classes),
                    initial.warmStart(getInitialModelPath(), MoEClassificationModel::load), fit);
            Map<String, Double> validation = parts[1] == null ? Map.of()
                    : HeldOut.classification(copyValues(new MoEClassificationModel(uid(), t.network(), null), ParamMap.empty()), parts[1], instr);
            return copyValues(new MoEClassificationModel(uid(), t.network(), new MoETrainingSummary(t.history(), validation)), ParamMap.empty());
        });
    }

    @Override
    public MoEClassifier copy(ParamMap extra) {
        MoEClassifier c = defaultCopy(extra);
        c.initial = initial.copy();
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

    @Override
    public String toString() {
        return Describe.estimator(this);
    }
}
