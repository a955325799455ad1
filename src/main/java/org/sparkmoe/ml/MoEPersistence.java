package org.sparkmoe.ml;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.ParameterTable;
import org.sparkmoe.app.Publish;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.engine.ExpertPartitioner;

import scala.Tuple2;

/**
 * ML persistence of the MoE estimators and models. An estimator's save is Spark's standard params
 * metadata ({@code metadata/}, as {@code DefaultParamsWriter} writes it). A model's save is the one
 * model layout of both faces ({@link ModelDirectory}: spec.json, the parquet {@code parameters/},
 * a language model's vocabulary) plus that metadata, so {@code PipelineModel.load} and
 * {@code DefaultParamsReader} find it, and the job evaluates, scores and warm-starts from it.
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

    /** Params metadata and the model ({@link ModelDirectory#write}) (the models). */
    static final class ModelWriter<M extends Params & Weights> extends AtomicWriter {
        private final M model;
        private final Publish.Writer vocabulary;

        /** @param vocabulary writes a language model's vocabulary to the file it is given; null for other models */
        ModelWriter(M model, Publish.Writer vocabulary) {
            this.model = model;
            this.vocabulary = vocabulary;
        }

        @Override
        public void saveImpl(String path) {
            saveMetadata(model, path, sparkSession());
            // a recurrent language model holds its experts (none for LSTM-LSTM) on the driver
            org.sparkmoe.app.RecurrentSpec recurrent = model instanceof MoELanguageModel lm ? lm.recurrentSpec().orElse(null) : null;
            ExpertTable experts = recurrent != null ? null : model.experts();
            ParameterTable.Experts rows = recurrent != null ? ParameterTable.localExperts(model.parameters().experts())
                    : experts instanceof ExpertTable.Distributed d ? ParameterTable.distributedExperts(d.rdd())
                    : ParameterTable.localExperts(experts.toArray());
            Map<String, String> provenance = new LinkedHashMap<>();
            provenance.put("createdBy", "spark-moe ML API");
            provenance.put("class", model.getClass().getName());
            provenance.put("uid", model.uid());
            // a recurrent language model's spec.json adds its "recurrent" object (kind, dropout, T, S)
            ModelDirectory.Spec spec = new ModelDirectory.Spec(model.spec(), Map.of(), provenance, recurrent);
            try {
                ModelDirectory.write(new Path(path), spec, model.sharedParameters(), rows, null, vocabulary, sparkSession());
            } catch (IOException e) {
                throw new UncheckedIOException("saving model " + model.uid() + " to " + path + ": " + e.getMessage(), e);
            }
        }
    }

    /** Builds a model read from {@code path} from its uid, spec, shared tensors and experts. */
    interface ModelFactory<M> {
        M create(String path, String uid, NetworkSpec spec, Parameters shared, ExpertTable experts);
    }

    /** Builds a recurrent language model read from {@code path} from its uid, spec and parameters (all on the driver). */
    interface RecurrentFactory<M> {
        M create(String path, String uid, ModelDirectory.Spec spec, ModelParameters parameters);
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
    record Loaded(Parameters shared, ExpertTable experts) {
    }

    /**
     * Reads the parameters of a saved model. The shared tensors come to the driver. With
     * {@code shards == 0} the experts come to the driver too (parquet expert rows streamed a partition
     * at a time, each copied into its expert as it arrives); otherwise a parquet table's rows are
     * combined per expert on the executors into a distributed table of {@code shards} shards (capped
     * at the expert count), and no expert tensor reaches the driver (a format-1 job model, a
     * checkpoint, is read on the driver and distributed).
     */
    static Loaded loadModel(ModelDirectory.Saved saved, SparkSession spark, int shards) throws IOException {
        String path = saved.parameterTable();
        if (shards == 0 || path == null) {
            ModelParameters all = saved.readParameters(spark);
            ExpertTable local = ExpertTable.local(all.experts());
            return new Loaded(all.shared(), shards == 0 ? local : local.distributedOn(shards));
        }
        Precision precision = saved.precision();
        MoENetwork net = saved.spec().network().build();
        int n = net.numExperts();
        ParameterLayout expertLayout = net.moe().expert().layout();
        Dataset<Row> table = spark.read().parquet(path);
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
        return new Loaded(shared, ExpertTable.distributed(experts, part));
    }
}
