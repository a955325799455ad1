package org.sparkmoe.app;

import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A saved model, on any Hadoop filesystem:
 *
 * <pre>
 * spec.json        {"format":"spark-moe-model","version":1,"network":{NetworkSpec.toMap()},"data":{...},"provenance":{...}}
 * parameters/      the final parameters and optimiser state as one CheckpointStore checkpoint (step-N/)
 * vocabulary.txt   language models: one token per line, line i = id i (&lt;unk&gt;, &lt;eos&gt;, words...)
 * summary.json     what the run reported
 * metrics.jsonl    per-step metrics of the training run
 * charts/          loss.png, expert-load.png
 * </pre>
 *
 * The reader also takes the ML models' saves ({@link ParameterTable}'s layout: {@code spec/},
 * {@code parameters/}, and {@code vocabulary} for a language model), so the job evaluates, scores,
 * inspects and warm-starts from a model fitted by the ML API, and the ML models load a job's model
 * directory. {@code version} in spec.json (and {@code formatVersion} in an ML save's spec) is read:
 * a newer version than this one reads is an error.
 *
 * <p>A model is built in a temporary sibling directory ({@code .NAME.tmp-RANDOM}) and published by a
 * rename; a previous model at the same path is moved aside first and deleted after, so the path
 * holds either the old or the new model, never half of one.
 */
public final class ModelDirectory {
    public static final String SPEC = "spec.json";
    public static final String PARAMETERS = "parameters";
    public static final String VOCABULARY = "vocabulary.txt";
    public static final String SUMMARY = "summary.json";
    public static final String METRICS = "metrics.jsonl";
    public static final String CHARTS = "charts";
    /** The format version written to spec.json; a reader refuses a newer one. */
    public static final int VERSION = 1;
    /** Indented JSON, as the job writes its files. */
    public static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ModelDirectory() {
    }

    /** What spec.json holds. */
    public record Spec(NetworkSpec network, Map<String, String> data, Map<String, String> provenance) {
        public String toJson() {
            ObjectNode root = JSON.createObjectNode();
            root.put("format", "spark-moe-model");
            root.put("version", VERSION);
            ObjectNode n = root.putObject("network");
            network.toMap().forEach(n::put);
            ObjectNode d = root.putObject("data");
            data.forEach(d::put);
            ObjectNode p = root.putObject("provenance");
            provenance.forEach(p::put);
            try {
                return JSON.writeValueAsString(root);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        public static Spec parse(String json, String source) throws IOException {
            JsonNode root;
            try {
                root = JSON.readTree(json);
            } catch (IOException e) {
                throw new IOException(source + " is not valid JSON: " + e.getMessage(), e);
            }
            if (root == null || !"spark-moe-model".equals(root.path("format").asText())) {
                throw new IOException(source + " is not a spark-moe model spec (no \"format\": \"spark-moe-model\")");
            }
            int version = root.path("version").asInt(1);
            if (version > VERSION) {
                throw new IOException(source + " is model format version " + version + "; this version reads up to " + VERSION
                        + " (use a newer spark-moe)");
            }
            try {
                return new Spec(NetworkSpec.fromMap(map(root.get("network"))), map(root.get("data")), map(root.get("provenance")));
            } catch (IllegalArgumentException e) {
                throw new IOException(source + ": " + e.getMessage(), e);
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
    }

    // ------------------------------------------------------------------ reading

    /**
     * The model directory of {@code path}: the path itself when it holds spec.json, else
     * {@code path/model} (a train output dir). Empty when neither holds a model.
     */
    public static Optional<Path> locate(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf);
        if (fs.exists(new Path(p, SPEC))) return Optional.of(p);
        Path m = new Path(p, "model");
        if (fs.exists(new Path(m, SPEC))) return Optional.of(m);
        return Optional.empty();
    }

    /** A model read by {@link #load}: where it is, its spec, and its parameters (with optimiser state when the format has it). */
    public record Loaded(Path dir, Spec spec, TrainingState state) {
    }

    /**
     * The model at {@code path} in either layout: a job model directory (or a train output.dir
     * holding one) or an ML save; empty when there is none. An ML save's parameters come with a fresh
     * optimiser state at step 0 (a warm start from it trains on as a new run).
     */
    public static Optional<Loaded> load(String path, Configuration conf, org.apache.spark.sql.SparkSession spark) throws IOException {
        Optional<Path> dir = locate(path, conf);
        if (dir.isPresent()) {
            Spec spec = readSpec(dir.get(), conf);
            return Optional.of(new Loaded(dir.get(), spec, readState(dir.get(), spec, conf)));
        }
        Path p = new Path(path);
        if (!ParameterTable.isSaved(p, conf)) return Optional.empty();
        ParameterTable.SavedSpec saved = ParameterTable.readSpec(path, spark);
        org.sparkmoe.core.network.ModelParameters params = ParameterTable.readLocal(path, spark);
        org.sparkmoe.core.optim.Adam adam = new org.sparkmoe.core.optim.Adam();
        org.sparkmoe.core.optim.OptimiserState[] states = new org.sparkmoe.core.optim.OptimiserState[params.experts().length];
        for (int e = 0; e < states.length; e++) states[e] = adam.newState(params.experts()[e]);
        Spec spec = new Spec(saved.spec(), Map.of(), Map.of("createdBy", "spark-moe ML API"));
        return Optional.of(new Loaded(p, spec, new TrainingState(params, adam.newState(params.shared()), states, 0)));
    }

    /** The vocabulary file of a model directory or ML save ({@code vocabulary.txt}, or an ML save's {@code vocabulary}). */
    public static Path vocabularyFile(Path dir, Configuration conf) throws IOException {
        Path txt = new Path(dir, VOCABULARY);
        return txt.getFileSystem(conf).exists(txt) ? txt : new Path(dir, "vocabulary");
    }

    public static Spec readSpec(Path dir, Configuration conf) throws IOException {
        return Spec.parse(Publish.readText(new Path(dir, SPEC), conf), new Path(dir, SPEC).toString());
    }

    /** The final parameters and optimiser state, checked against the spec's network. */
    public static TrainingState readState(Path dir, Spec spec, Configuration conf) throws IOException {
        CheckpointStore store = new CheckpointStore(new Path(dir, PARAMETERS).toString(), conf, 1);
        Optional<CheckpointMeta> latest = store.latest();
        if (latest.isEmpty()) throw new IOException("model " + dir + " has no parameters (" + PARAMETERS + "/ is empty or incomplete)");
        MoENetwork net = spec.network().build();
        return store.loadTrainingState(latest.get().step(), net.sharedLayout(), net.moe().expert().layout());
    }



    // ------------------------------------------------------------------ writing

    /** Writes spec, parameters and (language models: {@code vocabulary} writes it) the vocabulary into {@code dir} (a temporary directory). */
    public static void writeModel(Path dir, Spec spec, TrainingState state, int expertShards, Publish.Writer vocabulary,
                                  Configuration conf) throws IOException {
        Publish.writeText(new Path(dir, SPEC), spec.toJson(), conf);
        MoENetwork net = spec.network().build();
        CheckpointStore store = new CheckpointStore(new Path(dir, PARAMETERS).toString(), conf, 1);
        int shards = Math.max(1, Math.min(expertShards, net.numExperts()));
        CheckpointMeta meta = CheckpointMeta.of(state.step(), 0, 0, state.params().shared().precision(), net.numExperts(), shards,
                net.sharedLayout(), net.moe().expert().layout(), spec.provenance());
        store.save(state, meta);
        if (vocabulary != null) vocabulary.write(new Path(dir, VOCABULARY));
    }
}
