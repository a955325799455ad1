package org.sparkmoe.ml;

import java.util.Optional;

import org.apache.spark.ml.classification.ProbabilisticClassificationModel;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * A fitted {@link MoEClassifier}, an MLlib {@link ProbabilisticClassificationModel}. transform()
 * adds, for each column param that is non-empty, rawPredictionCol (log class probabilities),
 * probabilityCol (class probabilities), predictionCol (the class index, as double, with nominal
 * metadata: the argmax of probability / thresholds when thresholds are set, else of probability)
 * and expertsCol (the experts each row was routed to, with their gate values; off by default).
 * Rows are scored in blocks per partition through the application layer's scorer, with the experts
 * broadcast or distributed (see {@link MoEModel}); {@link #predict}, {@link #predictRaw} and
 * {@link #predictProbability} score one vector on the driver with the same network.
 */
public final class MoEClassificationModel extends ProbabilisticClassificationModel<Vector, MoEClassificationModel>
        implements MoEClassifierParams<MoEClassificationModel>, MoEModel<MoEClassificationModel>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final FittedNetwork network;
    private final MoETrainingSummary summary;

    /** A model with its experts on the driver. */
    public MoEClassificationModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        this(uid, spec, parameters.shared(), ExpertTable.local(parameters.experts()));
    }

    /** A model with these shared tensors and experts (local or distributed). */
    public MoEClassificationModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        this(uid, new FittedNetwork(spec, shared, experts, NetworkSpec.Task.CLASSIFICATION), null);
    }

    MoEClassificationModel(String uid, FittedNetwork network, MoETrainingSummary summary) {
        this(PendingUid.hold(uid), network, summary, true);
    }

    private MoEClassificationModel(String uid, FittedNetwork network, MoETrainingSummary summary, boolean pending) {
        this.uid = uid;
        PendingUid.release();
        this.network = network;
        this.summary = summary;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, true);
    }

    @Override
    public String uid() {
        return PendingUid.resolve(uid);
    }

    @Override
    public MoEParamSet moeParams() {
        return ps;
    }

    @Override
    public FittedNetwork network() {
        return network;
    }

    @Override
    public Optional<MoETrainingSummary> trainingSummary() {
        return Optional.ofNullable(summary);
    }

    @Override
    public MoEClassificationModel create(FittedNetwork n, MoETrainingSummary s) {
        return new MoEClassificationModel(uid(), n, s);
    }

    @Override
    public MoEClassificationModel copy(ParamMap extra) {
        return copied(create(network, summary), extra);
    }

    @Override
    public int numClasses() {
        return network.spec().outputs();
    }

    @Override
    public int numFeatures() {
        return network.spec().inputDim();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.outputSchema(schema, this, numClasses());
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        return Schemas.withMetadata(network.transform(dataset, out, new FeatureCodec(dataset.schema(), this, true, numFeatures())), out);
    }

    /** The log class probabilities of one feature vector (what rawPredictionCol holds). */
    @Override
    public Vector predictRaw(Vector features) {
        double[] p = network.predictOne(features, uid());
        for (int c = 0; c < p.length; c++) p[c] = Math.log(Math.max(p[c], Double.MIN_NORMAL));
        return new DenseVector(p);
    }

    /** Raw predictions are log-probabilities: their softmax, computed in place. */
    @Override
    public Vector raw2probabilityInPlace(Vector raw) {
        if (!(raw instanceof DenseVector dense)) return raw2probabilityInPlace(raw.toDense());
        double[] v = dense.values();
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double x : v) max = Math.max(max, x);
        for (int c = 0; c < v.length; c++) sum += v[c] = Math.exp(v[c] - max);
        for (int c = 0; c < v.length; c++) v[c] /= sum;
        return raw;
    }

    /**
     * MLlib's internal hook for summaries, declared by both Scala base classes with covariant return
     * types that Java sees as unrelated: restated here so that the class compiles; MLlib's behaviour.
     */
    @Override
    @SuppressWarnings({"rawtypes", "unchecked"})
    public scala.Tuple3 findSummaryModel() {
        return super.findSummaryModel();
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this, null);
    }

    /** A reader; its {@code local()} / {@code distributed(shards)} choose where the experts go (default: as saved). */
    public static MoEModelReader<MoEClassificationModel> read() {
        return new MoEModelReader<>(MoEClassificationModel.class, (path, uid, spec, shared, experts) -> new MoEClassificationModel(uid, spec, shared, experts));
    }

    public static MoEClassificationModel load(String path) {
        return read().load(path);
    }

    @Override
    public String toString() {
        return Describe.model(this, "numFeatures=" + numFeatures() + ", numClasses=" + numClasses());
    }
}
