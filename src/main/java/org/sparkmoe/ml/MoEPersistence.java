package org.sparkmoe.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsReader$;
import org.apache.spark.ml.util.DefaultParamsWriter$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.ParameterTable;
import org.sparkmoe.app.Publish;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.engine.ExpertPartitioner;

import scala.Tuple2;

/**
 * ML persistence of the MoE estimators and models. Layout of a saved instance:
 * <ul>
 *   <li>{@code metadata/}: Spark's standard params metadata JSON (class, uid, params, defaults), as
 *       {@code DefaultParamsWriter} writes it;</li>
 *   <li>models only: {@code spec/} and {@code parameters/}, the layout of {@link ParameterTable} (the
 *       job reads it too).</li>
 * </ul>
 * A save writes everything under a hidden temporary sibling of the target and renames it into place
 * at the end, so the target path never holds a half-written instance; with {@code overwrite()} an
 * existing target is moved aside first and deleted only once the new one is in place.
 */
final class MoEPersistence {
    private MoEPersistence() {
    }

    /** Spark's params metadata of {@code instance} at {@code path}/metadata: the one call of the Spark-version-specific writer. */
    static void saveMetadata(Params instance, String path, SparkSession spark) {
        org.sparkmoe.engine.compat.SparkCompat.saveMetadata(instance, path, spark);
    }

    /** The params metadata at {@code path}/metadata, checked to be of {@code className}: the one call of the Spark-version-specific reader. */
    static DefaultParamsReader.Metadata loadMetadata(String path, SparkSession spark, String className) {
        return org.sparkmoe.engine.compat.SparkCompat.loadMetadata(path, spark, className);
    }

    /** An MLWriter whose save is all-or-nothing at the target path ({@link Publish#write}). */
    abstract static class AtomicWriter extends MLWriter {
        @Override
        public void save(String path) throws IOException {
            Path target = new Path(path);
            FileSystem fs = target.getFileSystem(sc().hadoopConfiguration());
            if (fs.exists(target) && !shouldOverwrite()) {
                throw new IOException("Path " + path + " already exists. To overwrite it, please use write.overwrite().save(path).");
            }
            Publish.write(target, sc().hadoopConfiguration(), tmp -> saveImpl(tmp.toString()));
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
            saveMetadata(instance, path, sparkSession());
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
            DefaultParamsReader.Metadata md = loadMetadata(path, sparkSession(), type.getName());
            T instance = create.apply(md.uid());
            md.getAndSetParams(instance, scala.Option.empty());
            return instance;
        }
    }

    /** What a model is, besides its params. */
    interface Weights {
        NetworkSpec spec();

        /** All parameters on the driver. */
        ModelParameters parameters();

        /** The shared tensors (input layer, gating network, head). */
        default Parameters sharedParameters() {
            return parameters().shared();
        }

        /** The experts, on the driver or distributed. */
        default ExpertTable experts() {
            return ExpertTable.local(parameters().experts());
        }
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
     * the class comment). The shared tensors are written first, then the experts: a distributed table
     * is written by the executors that hold it; a local one in chunks of about
     * {@link #expertChunkValues} values, each chunk its own parquet write appended to the table.
     */
    static <M extends Params & Weights> void saveModel(M model, String path, SparkSession spark) {
        saveMetadata(model, path, spark);
        Parameters shared = model.sharedParameters();
        List<Row> spec = new ArrayList<>();
        model.spec().toMap().forEach((k, v) -> spec.add(RowFactory.create(k, v)));
        spec.add(RowFactory.create("precision", shared.precision().name()));
        spec.add(RowFactory.create("formatVersion", Integer.toString(ParameterTable.FORMAT_VERSION)));
        spark.createDataFrame(spec, ParameterTable.SPEC_SCHEMA).coalesce(1).write().json(new Path(path, "spec").toString());
        String table = new Path(path, "parameters").toString();
        spark.createDataFrame(ExpertTable.rows("shared", -1, shared), ParameterTable.PARAMETER_SCHEMA).coalesce(1).write().parquet(table);
        ExpertTable experts = model.experts();
        if (experts instanceof ExpertTable.Distributed d) {
            spark.createDataFrame(d.rows(), ParameterTable.PARAMETER_SCHEMA).write().mode("append").parquet(table);
            return;
        }
        Parameters[] local = experts.toArray();
        List<Row> rows = new ArrayList<>();
        long values = 0;
        for (int e = 0; e < local.length; e++) {
            rows.addAll(ExpertTable.rows("expert", e, local[e]));
            values += local[e].layout().size();
            if (values >= expertChunkValues || e == local.length - 1) {
                spark.createDataFrame(rows, ParameterTable.PARAMETER_SCHEMA).write().mode("append").parquet(table);
                rows.clear();
                values = 0;
            }
        }
    }

    /** Builds a model read from {@code path} from its uid, spec, shared tensors and experts. */
    interface ModelFactory<M> {
        M create(String path, String uid, NetworkSpec spec, Parameters shared, ExpertTable experts);
    }

    /** The saved model's expertShards when its placement param is "sharded", else 0. */
    static int savedShards(DefaultParamsReader.Metadata md) {
        try {
            com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(md.metadataJson());
            String placement = param(root, "placement", "driver");
            return placement.equals("sharded") ? Integer.parseInt(param(root, "expertShards", "1")) : 0;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("reading the metadata of model " + md.uid() + ": " + e.getMessage(), e);
        }
    }

    private static String param(com.fasterxml.jackson.databind.JsonNode root, String name, String otherwise) {
        for (String map : new String[] {"paramMap", "defaultParamMap"}) {
            com.fasterxml.jackson.databind.JsonNode v = root.path(map).path(name);
            if (!v.isMissingNode()) return v.asText();
        }
        return otherwise;
    }

    /** What {@link #loadModel} reads. */
    record Loaded(DefaultParamsReader.Metadata metadata, NetworkSpec spec, Parameters shared, ExpertTable experts) {
    }

    /**
     * Reads the spec and parameter table written by {@link #saveModel}. The shared tensors come to the
     * driver. With {@code shards == 0} the expert rows are streamed to the driver a partition at a time
     * ({@code toLocalIterator}), each copied into its expert as it arrives; otherwise they are combined
     * per expert on the executors into a distributed table of {@code shards} shards (capped at the
     * expert count), and no expert tensor reaches the driver.
     */
    static Loaded loadModel(String path, SparkSession spark, DefaultParamsReader.Metadata md, int shards) {
        if (shards == 0) {
            ModelParameters all = ParameterTable.readLocal(path, spark);
            return new Loaded(md, ParameterTable.readSpec(path, spark).spec(), all.shared(), ExpertTable.local(all.experts()));
        }
        ParameterTable.SavedSpec saved = ParameterTable.readSpec(path, spark);
        Precision precision = saved.precision();
        NetworkSpec spec = saved.spec();
        MoENetwork net = spec.build();
        int n = net.numExperts();
        ParameterLayout expertLayout = net.moe().expert().layout();
        Dataset<Row> table = spark.read().parquet(new Path(path, ParameterTable.PARAMETERS).toString());
        ParameterTable.Check check = new ParameterTable.Check(path, n, net.sharedLayout(), expertLayout);
        Parameters shared = ParameterTable.readShared(table, check, precision);
        Dataset<Row> expertRows = table.where(functions.col("expert").geq(0));
        ExpertPartitioner part = new ExpertPartitioner(n, Math.min(shards, n));
        JavaPairRDD<Integer, Parameters> experts = expertRows.toJavaRDD()
                .mapToPair(r -> new Tuple2<>(check.expert(r), r))
                .combineByKey(r -> {
                    Parameters p = expertLayout.allocate(precision);
                    check.copy(r, p);
                    return p;
                }, (p, r) -> {
                    check.copy(r, p);
                    return p;
                }, (a, b) -> {
                    // each tensor is set in exactly one of the two (zeros elsewhere): their sum merges them
                    a.flat().axpy(1, b.flat());
                    return a;
                }, part);
        Map<Integer, Long> tensors = expertRows.groupBy("expert").count().collectAsList().stream()
                .collect(java.util.stream.Collectors.toMap(r -> r.getInt(0), r -> r.getLong(1)));
        for (int e = 0; e < n; e++) {
            check.complete(expertLayout, tensors.getOrDefault(e, 0L), "tensors of expert " + e);
        }
        return new Loaded(md, spec, shared, ExpertTable.distributed(experts, part));
    }
}
