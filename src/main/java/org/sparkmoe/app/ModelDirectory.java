package org.sparkmoe.app;

import java.io.IOException;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.checkpoint.WriteFailedException;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A saved model, on any Hadoop filesystem: the one layout both faces write (format version 2) and
 * read.
 *
 * <pre>
 * spec.json        {"format":"spark-moe-model","version":2,"network":{NetworkSpec.toMap()},"data":{...},"provenance":{...},
 *                   "parameters":{"precision":"F32","step":"N","optimiserSlots":"m,v"},
 *                   "recurrent":{RecurrentSpec.toMap()}: a recurrent language model only}
 * parameters/      parquet, one row per tensor ({@link ParameterTable}); experts written by the driver or by the executors holding them
 * optimiser/       parquet, the optimiser state in the same table form (the job writes it: a retrain warm-starts with it)
 * vocabulary.txt   language models: one token per line, line i = id i (&lt;unk&gt;, &lt;eos&gt;, words...)
 * metadata/        a save by the ML API: Spark's params metadata (class, uid, params), as DefaultParamsWriter writes it
 * summary.json     the job: what the run reported
 * metrics.jsonl    the job: per-step metrics of the training run
 * charts/          the job: loss.png, expert-load.png
 * </pre>
 *
 * Both faces also read the two layouts of format 1 ({@link Layout}): the job's model directory
 * (spec.json version 1, {@code parameters/} a {@link CheckpointStore} checkpoint) and the ML save
 * ({@code metadata/}, {@code spec/}, {@code parameters/}, {@code vocabulary}). The version is read:
 * a newer version than {@link #VERSION} is an error.
 *
 * <p>A recurrent language model (paper section 5.1) has the same layout: spec.json's
 * {@code "recurrent"} object ({@link RecurrentSpec}: kind, dropout, T, S) with V, d and the MoE in
 * {@code "network"}; its table holds the embedding, both LSTMs' tensors, the gate and the softmax
 * as shared tensors, and its experts (none for the LSTM-LSTM baseline). {@link #open} refuses it and
 * {@link #openRecurrent} reads it; {@link #write} writes both kinds. Its spec.json before this layout
 * (no {@code "parameters"} object, the kind in {@code data}'s {@code lm.*} keys, {@code parameters/} a
 * checkpoint) is still read, as {@link Layout#V1_JOB}.
 *
 * <p>A model is built in a temporary sibling directory and published by a rename ({@link Publish}),
 * so the path holds either the old or the new model, never half of one.
 */
public final class ModelDirectory {
    public static final String SPEC = "spec.json";
    public static final String PARAMETERS = "parameters";
    public static final String OPTIMISER = "optimiser";
    public static final String VOCABULARY = "vocabulary.txt";
    public static final String METADATA = "metadata";
    public static final String SUMMARY = "summary.json";
    public static final String METRICS = "metrics.jsonl";
    public static final String CHARTS = "charts";
    /** The format version written to spec.json; a reader refuses a newer one. */
    public static final int VERSION = 2;
    /** Indented JSON, as the job writes its files. */
    public static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ModelDirectory() {
    }

    /** How a saved model stores its parameters. */
    public enum Layout {
        /** Format 1 as the job wrote it: spec.json version 1, {@code parameters/} a checkpoint. */
        V1_JOB,
        /** Format 1 as the ML API wrote it: {@code spec/} JSON lines, {@code parameters/} parquet. */
        V1_ML,
        /** Format 2: spec.json version 2, {@code parameters/} parquet. */
        V2
    }

    /**
     * What spec.json holds about the model: the network, the data it was trained on, provenance, and
     * for a recurrent language model its {@link RecurrentSpec} (null: the feed-forward
     * {@link MoENetwork} of {@code network}).
     */
    public record Spec(NetworkSpec network, Map<String, String> data, Map<String, String> provenance, RecurrentSpec recurrent) {
        /** A feed-forward model's spec. */
        public Spec(NetworkSpec network, Map<String, String> data, Map<String, String> provenance) {
            this(network, data, provenance, null);
        }

        /** The spec as JSON (also the job's {@code run-spec.json}). */
        public String toJson() {
            return write(this, null);
        }

        /** Whether this is a recurrent language model ({@link #recurrent()} is set). */
        public boolean isRecurrent() {
            return recurrent != null;
        }

        /** The recurrent language model of this spec; an error for a feed-forward model. */
        public RecurrentLanguageModel recurrentModel() {
            if (recurrent == null) throw new IllegalStateException("the model is not a recurrent language model");
            return recurrent.model(network);
        }

        /** The tensors of the model's parameter table (the recurrent model's or the feed-forward network's). */
        public ParameterTable.Shape shape() {
            return recurrent == null ? ParameterTable.Shape.of(network) : RecurrentSpec.shape(recurrentModel());
        }

        public static Spec parse(String json, String source) throws IOException {
            return spec(header(json, source), source);
        }
    }

    /** Parses and checks spec.json: the format marker and a version this reader reads. */
    private static JsonNode header(String json, String source) throws IOException {
        JsonNode root = CheckpointMeta.readJson(json, source);
        if (root == null || !"spark-moe-model".equals(root.path("format").asText())) {
            throw new IOException(source + " is not a spark-moe model spec (no \"format\": \"spark-moe-model\")");
        }
        int version = root.path("version").asInt(1);
        if (version > VERSION) {
            throw new IOException(source + " is model format version " + version + "; this version reads up to " + VERSION
                    + " (use a newer spark-moe)");
        }
        return root;
    }

    private static Spec spec(JsonNode root, String source) throws IOException {
        try {
            Map<String, String> data = map(root.get("data"));
            RecurrentSpec recurrent = root.has("recurrent") ? RecurrentSpec.fromMap(map(root.get("recurrent"))) : RecurrentSpec.fromJobData(data);
            Spec spec = new Spec(NetworkSpec.fromMap(map(root.get("network"))), data, map(root.get("provenance")), recurrent);
            if (recurrent != null) spec.recurrentModel(); // V, d and the MoE must make a model
            return spec;
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage(), e);
        }
    }

    private static String write(Spec spec, Map<String, String> parameters) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", "spark-moe-model");
        root.put("version", VERSION);
        ObjectNode n = root.putObject("network");
        spec.network().toMap().forEach(n::put);
        ObjectNode d = root.putObject("data");
        spec.data().forEach(d::put);
        ObjectNode p = root.putObject("provenance");
        spec.provenance().forEach(p::put);
        if (spec.recurrent() != null) {
            ObjectNode r = root.putObject("recurrent");
            spec.recurrent().toMap().forEach(r::put);
        }
        if (parameters != null) {
            ObjectNode t = root.putObject("parameters");
            parameters.forEach(t::put);
        }
        try {
            return JSON.writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, String> map(JsonNode n) {
        Map<String, String> m = new LinkedHashMap<>();
        if (n != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                m.put(e.getKey(), e.getValue().asText());
            }
        }
        return m;
    }

    // ------------------------------------------------------------------ reading

    /**
     * A saved model found by {@link #open} or {@link #openRecurrent}: where it is, its layout, spec and
     * (not for {@link Layout#V1_JOB}, whose checkpoint says it) the precision of its parameters, the
     * training step and the optimiser slots saved with it (none: no optimiser state). For a recurrent
     * model the parameters are {@link RecurrentLanguageModel#sharedLayout()} and one group per expert
     * (none for {@code lstm}).
     */
    public record Saved(Path dir, Layout layout, Spec spec, Precision precision, long step, List<String> optimiserSlots) {
        /** The parquet parameter table ({@link ParameterTable}); null for {@link Layout#V1_JOB}. */
        public String parameterTable() {
            return layout == Layout.V1_JOB ? null : new Path(dir, PARAMETERS).toString();
        }

        /** Whether the model was saved by the ML API (it has Spark's params metadata). */
        public boolean hasParamsMetadata(Configuration conf) throws IOException {
            Path md = new Path(dir, METADATA);
            return md.getFileSystem(conf).exists(md);
        }

        /** The parameters on the driver. */
        public ModelParameters readParameters(SparkSession spark) throws IOException {
            if (layout == Layout.V1_JOB) return readCheckpoint(spark.sparkContext().hadoopConfiguration()).params();
            return ParameterTable.reading(parameterTable(), () -> ParameterTable.readLocal(parameterTable(), spec.shape(), precision, spark));
        }

        /**
         * Parameters and optimiser state on the driver; a model saved without optimiser state (by the
         * ML API) comes with a fresh Adam state at step 0, so a warm start from it trains on as a new run.
         */
        public TrainingState readState(SparkSession spark) throws IOException {
            if (layout == Layout.V1_JOB) return readCheckpoint(spark.sparkContext().hadoopConfiguration());
            ModelParameters params = readParameters(spark);
            if (optimiserSlots.isEmpty()) return TrainingState.fresh(params, new Adam());
            String table = new Path(dir, OPTIMISER).toString();
            OptimiserState[] all = ParameterTable.reading(table,
                    () -> ParameterTable.readOptimiser(table, spec.shape(), precision, optimiserSlots, spark));
            return new TrainingState(params, all[0], Arrays.copyOfRange(all, 1, all.length), step);
        }

        private TrainingState readCheckpoint(Configuration conf) throws IOException {
            CheckpointStore store = new CheckpointStore(new Path(dir, PARAMETERS).toString(), conf, 1);
            Optional<CheckpointMeta> latest = store.latest();
            if (latest.isEmpty()) throw new IOException("model " + dir + " has no parameters (" + PARAMETERS + "/ is empty or incomplete)");
            ParameterTable.Shape shape = spec.shape();
            return store.loadTrainingState(latest.get().step(), shape.shared(), shape.expert());
        }
    }

    /**
     * The feed-forward model at {@code path} in any layout: a model directory, a train output.dir
     * holding one in {@code model/}, or a format-1 ML save; empty when there is none. A newer format
     * version than this one reads is an error, and so is a recurrent language model (read with
     * {@link #openRecurrent}): a reader of the feed-forward network must not take one for its own.
     */
    public static Optional<Saved> open(String path, SparkSession spark) throws IOException {
        Optional<Saved> s = find(path, spark);
        if (s.isPresent() && s.get().spec().isRecurrent()) {
            throw new IOException(s.get().dir() + " holds a recurrent language model (\"recurrent\": " + s.get().spec().recurrent().kind()
                    + " in " + SPEC + "), not a feed-forward MoE network; read it as a recurrent language model");
        }
        return s;
    }

    /**
     * The recurrent language model at {@code path} (a model directory or a train output.dir holding
     * one in {@code model/}); empty when there is none. A feed-forward model there is an error.
     * Read its parameters with {@link Saved#readParameters} or {@link Saved#readState}, its vocabulary
     * from {@link #vocabularyFile}, and build the model with {@link Spec#recurrentModel()}.
     */
    public static Optional<Saved> openRecurrent(String path, SparkSession spark) throws IOException {
        Optional<Saved> s = find(path, spark);
        if (s.isPresent() && !s.get().spec().isRecurrent()) {
            throw new IOException(s.get().dir() + " holds a feed-forward MoE model (" + s.get().spec().network().task()
                    + "), not a recurrent language model");
        }
        return s;
    }

    /** The model at {@code path} of either kind ({@link Spec#isRecurrent()} says which); empty when there is none. */
    public static Optional<Saved> find(String path, SparkSession spark) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf);
        for (Path dir : new Path[] {p, new Path(p, "model")}) {
            Path specFile = new Path(dir, SPEC);
            if (!fs.exists(specFile)) continue;
            JsonNode root = header(Publish.readText(specFile, conf), specFile.toString());
            Spec spec = spec(root, specFile.toString());
            // format 1, and the recurrent models the job wrote before their format 2 (no "parameters" object): parameters/ is a checkpoint
            if (root.path("version").asInt(1) < 2 || spec.isRecurrent() && !root.has("parameters")) {
                return Optional.of(new Saved(dir, Layout.V1_JOB, spec, null, 0, List.of()));
            }
            Map<String, String> t = map(root.get("parameters"));
            String slots = t.getOrDefault("optimiserSlots", "");
            return Optional.of(new Saved(dir, Layout.V2, spec, Precision.valueOf(t.getOrDefault("precision", "F32")),
                    Long.parseLong(t.getOrDefault("step", "0")), slots.isEmpty() ? List.of() : List.of(slots.split(","))));
        }
        if (!ParameterTable.isV1Save(p, conf)) return Optional.empty();
        ParameterTable.SavedSpec saved = ParameterTable.readV1Spec(path, spark);
        Spec spec = new Spec(saved.spec(), Map.of(), Map.of("createdBy", "spark-moe ML API"));
        return Optional.of(new Saved(p, Layout.V1_ML, spec, saved.precision(), 0, List.of()));
    }

    /** A model read by {@link #load}: where it is, its spec, and its parameters (with optimiser state when the model has it). */
    public record Loaded(Path dir, Spec spec, TrainingState state) {
    }

    /** The model at {@code path} in any layout ({@link #open}) with its parameters and optimiser state; empty when there is none. */
    public static Optional<Loaded> load(String path, Configuration conf, SparkSession spark) throws IOException {
        Optional<Saved> s = open(path, spark);
        if (s.isEmpty()) return Optional.empty();
        return Optional.of(new Loaded(s.get().dir(), s.get().spec(), s.get().readState(spark)));
    }

    /** The vocabulary file of a model ({@code vocabulary.txt}, or a format-1 ML save's {@code vocabulary}). */
    public static Path vocabularyFile(Path dir, Configuration conf) throws IOException {
        Path txt = new Path(dir, VOCABULARY);
        return txt.getFileSystem(conf).exists(txt) ? txt : new Path(dir, "vocabulary");
    }

    /** The spec of the model directory {@code dir}. */
    public static Spec readSpec(Path dir, Configuration conf) throws IOException {
        return Spec.parse(Publish.readText(new Path(dir, SPEC), conf), new Path(dir, SPEC).toString());
    }

    /** The parameters and optimiser state of the model directory {@code dir} (whose spec is {@code spec}), on the driver. */
    public static TrainingState readState(Path dir, Spec spec, Configuration conf) throws IOException {
        SparkSession spark = SparkSession.builder().getOrCreate();
        Saved s = find(dir.toString(), spark).orElseThrow(() -> new IOException("no model at " + dir));
        if (!s.spec().network().equals(spec.network())) throw new IOException("the model at " + dir + " is not the one of the given spec");
        return s.readState(spark);
    }

    // ------------------------------------------------------------------ writing

    /**
     * Writes a model into {@code dir} (a temporary directory, published afterwards): spec.json,
     * {@code parameters/} (the shared tensors, then {@code experts}: from the driver or from the
     * executors that hold them), {@code optimiser/} when {@code state} is given (its parameters are
     * not used: {@code shared} and {@code experts} are), and a language model's vocabulary, which
     * {@code vocabulary} writes to the file it is given. What else a face keeps there (the ML API's
     * {@code metadata/}, the job's summary, metrics and charts) it writes itself.
     */
    public static void write(Path dir, Spec spec, Parameters shared, ParameterTable.Experts experts, TrainingState state,
                             Publish.Writer vocabulary, SparkSession spark) throws IOException {
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("precision", shared.precision().name());
        if (state != null) {
            parameters.put("step", Long.toString(state.step()));
            parameters.put("optimiserSlots", String.join(",", state.sharedOptimiser().slots().stream().map(OptimiserState.Slot::name).toList()));
        }
        String table = new Path(dir, PARAMETERS).toString();
        writing(table, () -> ParameterTable.write(table, shared, experts, spark));
        if (state != null) {
            String optimiser = new Path(dir, OPTIMISER).toString();
            writing(optimiser, () -> ParameterTable.writeOptimiser(optimiser, state.sharedOptimiser(), state.expertOptimisers(), spark));
        }
        if (vocabulary != null) vocabulary.write(new Path(dir, VOCABULARY));
        // last: a directory without spec.json is not a model to any reader
        Publish.writeText(new Path(dir, SPEC), write(spec, parameters), conf);
    }

    /**
     * Runs the write of {@code path}; the filesystem refusing it (a full disk: Hadoop's
     * {@code FSError} or an {@code IOException}, also inside Spark's task and job failures) becomes a
     * {@link WriteFailedException} naming {@code path} and the filesystem's reason.
     */
    private static void writing(String path, Runnable write) throws IOException {
        try {
            write.run();
        } catch (Exception | org.apache.hadoop.fs.FSError e) {
            Throwable fs = null;
            for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
                if (c instanceof IOException || c instanceof org.apache.hadoop.fs.FSError) fs = c; // the innermost: the filesystem's own
            }
            if (fs != null) throw WriteFailedException.of(path, fs);
            if (e instanceof RuntimeException r) throw r;
            if (e instanceof Error err) throw err;
            throw new IOException("writing " + path + " failed: " + e.getMessage(), e);
        }
    }

    /** Writes a trained model with its optimiser state, all held on the driver (the job's final state). */
    public static void write(Path dir, Spec spec, TrainingState state, Publish.Writer vocabulary, SparkSession spark) throws IOException {
        write(dir, spec, state.params().shared(), ParameterTable.localExperts(state.params().experts()), state, vocabulary, spark);
    }
}
