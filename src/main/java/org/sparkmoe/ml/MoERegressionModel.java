package org.sparkmoe.ml;

import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * A fitted {@link MoERegressor}: the network spec and its parameters (held on the driver and
 * broadcast to score). transform() adds predictionCol (the predicted value) and, when set,
 * expertsCol (the experts each row was routed to, with their gate values). Rows are scored in
 * batches per partition.
 */
public final class MoERegressionModel extends Model<MoERegressionModel>
        implements MoEParams<MoERegressionModel>, MLWritable, MoEPersistence.Weights {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final NetworkSpec spec;
    private final transient ModelParameters parameters;

    public MoERegressionModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        if (spec.task() != NetworkSpec.Task.REGRESSION) {
            throw new IllegalArgumentException("a regression model needs a REGRESSION network spec, got " + spec.task());
        }
        this.uid = uid;
        this.spec = spec;
        this.parameters = parameters;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, false);
    }

    @Override
    public String uid() {
        return uid;
    }

    @Override
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
        return MoESupport.outputSchema(schema, this, false);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        return MoESupport.transform(dataset, this, false, spec, parameters);
    }

    @Override
    public MoERegressionModel copy(ParamMap extra) {
        MoERegressionModel m = copyValues(new MoERegressionModel(uid, spec, parameters), extra);
        if (hasParent()) m.setParent(parent());
        return m;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this);
    }

    public static MLReader<MoERegressionModel> read() {
        return new MoEPersistence.ModelReader<>(MoERegressionModel.class, MoERegressionModel::new);
    }

    public static MoERegressionModel load(String path) {
        return read().load(path);
    }
}
