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
 * A fitted {@link MoEClassifier}: the network spec and its parameters (held on the driver and
 * broadcast to score). transform() adds, for each column param that is non-empty,
 * rawPredictionCol (log class probabilities), probabilityCol (class probabilities), predictionCol
 * (the most probable class index, as double) and expertsCol (the experts each row was routed to,
 * with their gate values; off by default). Rows are scored in batches per partition.
 */
public final class MoEClassificationModel extends Model<MoEClassificationModel>
        implements MoEClassifierParams<MoEClassificationModel>, MLWritable, MoEPersistence.Weights {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final NetworkSpec spec;
    private final transient ModelParameters parameters;

    public MoEClassificationModel(String uid, NetworkSpec spec, ModelParameters parameters) {
        if (spec.task() != NetworkSpec.Task.CLASSIFICATION) {
            throw new IllegalArgumentException("a classification model needs a CLASSIFICATION network spec, got " + spec.task());
        }
        this.uid = uid;
        this.spec = spec;
        this.parameters = parameters;
        this.ps = new MoEParamSet(uid);
        ps.applyDefaults(this, true);
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

    public int numClasses() {
        return spec.outputs();
    }

    public int numFeatures() {
        return spec.inputDim();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return MoESupport.outputSchema(schema, this, true);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        return MoESupport.transform(dataset, this, true, spec, parameters);
    }

    @Override
    public MoEClassificationModel copy(ParamMap extra) {
        MoEClassificationModel m = copyValues(new MoEClassificationModel(uid, spec, parameters), extra);
        if (hasParent()) m.setParent(parent());
        return m;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this);
    }

    public static MLReader<MoEClassificationModel> read() {
        return new MoEPersistence.ModelReader<>(MoEClassificationModel.class, MoEClassificationModel::new);
    }

    public static MoEClassificationModel load(String path) {
        return read().load(path);
    }
}
