package org.sparkmoe.ml;

import java.util.Optional;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.regression.RegressionModel;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

/**
 * A fitted {@link MoERegressor}, an MLlib {@link RegressionModel}. transform() adds predictionCol
 * (the predicted value) and, when set, expertsCol (the experts each row was routed to, with their
 * gate values). Rows are scored in blocks per partition through the application layer's scorer,
 * with the experts broadcast or distributed (see {@link MoEModel}); {@link #predict} scores one
 * vector on the driver with the same network.
 */
public final class MoERegressionModel extends RegressionModel<Vector, MoERegressionModel>
        implements MoESupervisedParams<MoERegressionModel>, MoEModel<MoERegressionModel>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final FittedNetwork network;
    private final MoETrainingSummary summary;

    /** A model with its experts on the driver. */
    public MoERegressionModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        this(uid, spec, parameters.shared(), ExpertTable.local(parameters.experts()));
    }

    /** A model with these shared tensors and experts (local or distributed). */
    public MoERegressionModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts) {
        this(uid, new FittedNetwork(spec, shared, experts, NetworkSpec.Task.REGRESSION), null);
    }

    MoERegressionModel(String uid, FittedNetwork network, MoETrainingSummary summary) {
        this(PendingUid.hold(uid), network, summary, true);
    }

    private MoERegressionModel(String uid, FittedNetwork network, MoETrainingSummary summary, boolean pending) {
        this.uid = uid;
        PendingUid.release();
        this.network = network;
        this.summary = summary;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, false);
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
    public MoERegressionModel create(FittedNetwork n, MoETrainingSummary s) {
        return new MoERegressionModel(uid(), n, s);
    }

    @Override
    public MoERegressionModel copy(ParamMap extra) {
        return copied(create(network, summary), extra);
    }

    @Override
    public int numFeatures() {
        return network.spec().inputDim();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.outputSchema(schema, this, 0);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        return network.transform(dataset, out, new FeatureCodec(dataset.schema(), this, false, numFeatures()));
    }

    /** The predicted value for one feature vector. */
    @Override
    public double predict(Vector features) {
        return network.predictOne(features, uid())[0];
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this, null);
    }

    /** A reader; its {@code local()} / {@code distributed(shards)} choose where the experts go (default: as saved). */
    public static MoEModelReader<MoERegressionModel> read() {
        return new MoEModelReader<>(MoERegressionModel.class, (path, uid, spec, shared, experts) -> new MoERegressionModel(uid, spec, shared, experts));
    }

    public static MoERegressionModel load(String path) {
        return read().load(path);
    }

    @Override
    public String toString() {
        return Describe.model(this, "numFeatures=" + numFeatures());
    }
}
