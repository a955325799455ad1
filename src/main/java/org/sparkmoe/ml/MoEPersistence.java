package org.sparkmoe.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsReader$;
import org.apache.spark.ml.util.DefaultParamsWriter$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * ML persistence of the MoE estimators and models. Layout of a saved instance:
 * <ul>
 *   <li>{@code metadata/}: Spark's standard params metadata JSON (class, uid, params, defaults), as
 *       {@code DefaultParamsWriter} writes it;</li>
 *   <li>models only: {@code spec/} (JSON lines {@code key, value}: the {@link NetworkSpec} map plus
 *       {@code precision}) and {@code parameters/} (parquet: one row per tensor, columns
 *       {@code group} ("shared" or "expert"), {@code expert} (-1 for shared), {@code tensor},
 *       {@code rows}, {@code cols}, {@code values} array&lt;double&gt;, row-major), so expert weights form
 *       a table.</li>
 * </ul>
 * A save writes everything under a hidden temporary sibling of the target and renames it into place
 * at the end, so the target path never holds a half-written instance; with {@code overwrite()} an
 * existing target is moved aside first and deleted only once the new one is in place.
 */
final class MoEPersistence {
    static final StructType PARAMETER_SCHEMA = new StructType()
            .add("group", DataTypes.StringType, false)
            .add("expert", DataTypes.IntegerType, false)
            .add("tensor", DataTypes.StringType, false)
            .add("rows", DataTypes.IntegerType, false)
            .add("cols", DataTypes.IntegerType, false)
            .add("values", DataTypes.createArrayType(DataTypes.DoubleType, false), false);
    static final StructType SPEC_SCHEMA = new StructType()
            .add("key", DataTypes.StringType, false).add("value", DataTypes.StringType, false);

    private MoEPersistence() {
    }

    /** An MLWriter whose save is all-or-nothing at the target path. */
    abstract static class AtomicWriter extends MLWriter {
        @Override
        public void save(String path) throws IOException {
            Path target = new Path(path);
            FileSystem fs = target.getFileSystem(sc().hadoopConfiguration());
            boolean exists = fs.exists(target);
            if (exists && !shouldOverwrite()) {
                throw new IOException("Path " + path + " already exists. To overwrite it, please use write.overwrite().save(path).");
            }
            Path parent = target.getParent();
            String tag = UUID.randomUUID().toString();
            Path tmp = parent == null ? new Path("." + tag + ".tmp") : new Path(parent, "." + target.getName() + "." + tag + ".tmp");
            try {
                saveImpl(tmp.toString());
            } catch (RuntimeException e) {
                fs.delete(tmp, true);
                throw e;
            }
            if (exists) {
                Path old = new Path(tmp.getParent(), "." + target.getName() + "." + tag + ".old");
                if (!fs.rename(target, old)) {
                    fs.delete(tmp, true);
                    throw new IOException("cannot move the existing " + path + " aside to overwrite it");
                }
                if (!fs.rename(tmp, target)) {
                    fs.rename(old, target);
                    fs.delete(tmp, true);
                    throw new IOException("cannot move the new model into " + path + "; the old one is kept");
                }
                fs.delete(old, true);
            } else if (!fs.rename(tmp, target)) {
                fs.delete(tmp, true);
                throw new IOException("cannot move the saved instance into " + path);
            }
        }
    }

    /** Params only (the estimators). */
    static final class ParamsWriter extends AtomicWriter {
        private final Params instance;

        ParamsWriter(Params instance) {
            this.instance = instance;
        }

        @Override
        public void saveImpl(String path) {
            DefaultParamsWriter$.MODULE$.saveMetadata(instance, path, sparkSession());
        }
    }

    /** Reads an estimator: a new instance with the saved uid and params. */
    static final class ParamsReader<T extends Params> extends MLReader<T> {
        private final Class<T> type;
        private final Function<String, T> create;

        ParamsReader(Class<T> type, Function<String, T> create) {
            this.type = type;
            this.create = create;
        }

        @Override
        public T load(String path) {
            DefaultParamsReader.Metadata md = DefaultParamsReader$.MODULE$.loadMetadata(path, sparkSession(), type.getName());
            T instance = create.apply(md.uid());
            md.getAndSetParams(instance, scala.Option.empty());
            return instance;
        }
    }

    /** What a model is, besides its params. */
    interface Weights {
        NetworkSpec spec();

        ModelParameters parameters();
    }

    /** Params, network spec and parameter table (the models). */
    static final class ModelWriter<M extends Params & Weights> extends AtomicWriter {
        private final M model;

        ModelWriter(M model) {
            this.model = model;
        }

        @Override
        public void saveImpl(String path) {
            saveModel(model, path, sparkSession());
        }
    }

    /**
     * Values per parquet write of the expert table: experts are converted to rows and written (appended
     * to {@code parameters/}) a chunk of about this many values at a time, so the driver never holds
     * a second, boxed copy of all the experts while saving.
     */
    static long expertChunkValues = 4L << 20;

    /**
     * Writes a model's metadata, {@code spec/} and {@code parameters/} under {@code path} (the layout of
     * the class comment). The shared tensors are written first, then the experts in chunks of about
     * {@link #expertChunkValues} values, each chunk its own parquet write appended to the table.
     */
    static <M extends Params & Weights> void saveModel(M model, String path, SparkSession spark) {
        DefaultParamsWriter$.MODULE$.saveMetadata(model, path, spark);
        ModelParameters p = model.parameters();
        List<Row> spec = new ArrayList<>();
        model.spec().toMap().forEach((k, v) -> spec.add(RowFactory.create(k, v)));
        spec.add(RowFactory.create("precision", p.shared().precision().name()));
        spark.createDataFrame(spec, SPEC_SCHEMA).coalesce(1).write().json(new Path(path, "spec").toString());
        String table = new Path(path, "parameters").toString();
        List<Row> rows = new ArrayList<>();
        addRows(rows, "shared", -1, p.shared());
        spark.createDataFrame(rows, PARAMETER_SCHEMA).coalesce(1).write().parquet(table);
        rows.clear();
        long values = 0;
        for (int e = 0; e < p.experts().length; e++) {
            addRows(rows, "expert", e, p.experts()[e]);
            values += p.experts()[e].layout().size();
            if (values >= expertChunkValues || e == p.experts().length - 1) {
                spark.createDataFrame(rows, PARAMETER_SCHEMA).write().mode("append").parquet(table);
                rows.clear();
                values = 0;
            }
        }
    }

    private static void addRows(List<Row> rows, String group, int expert, Parameters p) {
        for (ParameterLayout.Entry e : p.layout().entries()) {
            Matrix m = p.get(e.name());
            Double[] v = new Double[e.size()];
            for (int r = 0, i = 0; r < e.rows(); r++) for (int c = 0; c < e.cols(); c++) v[i++] = m.get(r, c);
            rows.add(RowFactory.create(group, expert, e.name(), e.rows(), e.cols(), v));
        }
    }

    /** Builds a model from its uid, spec and parameters. */
    interface ModelFactory<M> {
        M create(String uid, NetworkSpec spec, ModelParameters parameters);
    }

    static final class ModelReader<M extends Params> extends MLReader<M> {
        private final Class<M> type;
        private final ModelFactory<M> create;

        ModelReader(Class<M> type, ModelFactory<M> create) {
            this.type = type;
            this.create = create;
        }

        @Override
        public M load(String path) {
            Loaded l = loadModel(path, sparkSession(), type.getName());
            M model = create.create(l.metadata().uid(), l.spec(), l.parameters());
            l.metadata().getAndSetParams(model, scala.Option.empty());
            return model;
        }
    }

    /** What {@link #loadModel} reads. */
    record Loaded(DefaultParamsReader.Metadata metadata, NetworkSpec spec, ModelParameters parameters) {
    }

    /**
     * Reads the metadata, spec and parameter table written by {@link #saveModel}. The table is streamed
     * to the driver a partition at a time ({@code toLocalIterator}), each row copied into the model's
     * parameters as it arrives, so only the final parameters (plus one partition of rows) are held.
     */
    static Loaded loadModel(String path, SparkSession spark, String className) {
        DefaultParamsReader.Metadata md = DefaultParamsReader$.MODULE$.loadMetadata(path, spark, className);
        Map<String, String> specMap = new HashMap<>();
        for (Row r : spark.read().schema(SPEC_SCHEMA).json(new Path(path, "spec").toString()).collectAsList()) {
            specMap.put(r.getString(0), r.getString(1));
        }
        Precision precision = Precision.valueOf(specMap.getOrDefault("precision", "F32"));
        NetworkSpec spec = NetworkSpec.fromMap(specMap);
        MoENetwork net = spec.build();
        Parameters shared = net.sharedLayout().allocate(precision);
        Parameters[] experts = new Parameters[net.numExperts()];
        for (int e = 0; e < experts.length; e++) experts[e] = net.moe().expert().layout().allocate(precision);
        int[] seen = new int[experts.length + 1];
        java.util.Iterator<Row> it = spark.read().parquet(new Path(path, "parameters").toString()).toLocalIterator();
        while (it.hasNext()) {
            Row r = it.next();
            int expert = r.getInt(r.fieldIndex("expert"));
            if (expert < -1 || expert >= experts.length) {
                throw new IllegalStateException(path + ": parameter table names expert " + expert + " of " + experts.length);
            }
            Parameters target = expert < 0 ? shared : experts[expert];
            String tensor = r.getString(r.fieldIndex("tensor"));
            if (!target.layout().contains(tensor)) {
                throw new IllegalStateException(path + ": unknown tensor '" + tensor + "' for " + (expert < 0 ? "shared" : "expert " + expert));
            }
            ParameterLayout.Entry entry = target.layout().entry(tensor);
            int rows = r.getInt(r.fieldIndex("rows"));
            int cols = r.getInt(r.fieldIndex("cols"));
            List<Double> v = r.getList(r.fieldIndex("values"));
            if (rows != entry.rows() || cols != entry.cols() || v.size() != entry.size()) {
                throw new IllegalStateException(path + ": tensor '" + tensor + "' is " + rows + "x" + cols + " (" + v.size()
                        + " values), the model needs " + entry.rows() + "x" + entry.cols());
            }
            Matrix m = target.get(tensor);
            for (int i = 0, rr = 0; rr < rows; rr++) for (int c = 0; c < cols; c++) m.set(rr, c, v.get(i++));
            seen[expert + 1]++;
        }
        if (seen[0] != shared.layout().entries().size()) {
            throw new IllegalStateException(path + ": parameter table holds " + seen[0] + " of " + shared.layout().entries().size()
                    + " shared tensors");
        }
        for (int e = 0; e < experts.length; e++) {
            if (seen[e + 1] != experts[e].layout().entries().size()) {
                throw new IllegalStateException(path + ": parameter table holds " + seen[e + 1] + " tensors of expert " + e);
            }
        }
        return new Loaded(md, spec, new ModelParameters(shared, experts));
    }
}
