package org.sparkmoe.engine.checkpoint;

import java.io.IOException;
import java.io.Serializable;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;

/**
 * The {@code meta.json} of a checkpoint: where training stands and what the binary files must
 * contain. {@code stepInEpoch} is the data position (steps already taken in {@code epoch}), so a
 * resumed run can skip the batches it has seen. {@code config} is free-form provenance (hyper-
 * parameters, git revision, ...), never interpreted here.
 *
 * @param formatVersion   the checkpoint format version ({@link CheckpointStore#FORMAT_VERSION} when written)
 * @param sharedLayout    layout of the shared parameter group
 * @param expertLayout    layout every expert's parameters share
 */
public record CheckpointMeta(int formatVersion, long step, long epoch, long stepInEpoch, Precision precision,
                             int numExperts, int numExpertShards, Map<String, String> config,
                             ParameterLayout sharedLayout, ParameterLayout expertLayout) implements Serializable {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public CheckpointMeta {
        if (step < 0 || epoch < 0 || stepInEpoch < 0) {
            throw new IllegalArgumentException("step, epoch and stepInEpoch must be >= 0, got " + step + ", " + epoch + ", " + stepInEpoch);
        }
        // 0 experts in 0 shards: a model without an MoE layer (the recurrent LM's LSTM-LSTM baseline)
        boolean noMoE = numExperts == 0 && numExpertShards == 0;
        if (!noMoE && (numExperts <= 0 || numExpertShards <= 0 || numExpertShards > numExperts)) {
            throw new IllegalArgumentException("need 0 < numExpertShards <= numExperts, got " + numExpertShards + " shards for "
                    + numExperts + " experts");
        }
        if (precision == null || sharedLayout == null || expertLayout == null) {
            throw new IllegalArgumentException("precision and layouts must not be null");
        }
        config = Collections.unmodifiableMap(new LinkedHashMap<>(config == null ? Map.of() : config));
    }

    /** Meta for the current format version. */
    public static CheckpointMeta of(long step, long epoch, long stepInEpoch, Precision precision, int numExperts,
                                    int numExpertShards, ParameterLayout sharedLayout, ParameterLayout expertLayout,
                                    Map<String, String> config) {
        return new CheckpointMeta(CheckpointStore.FORMAT_VERSION, step, epoch, stepInEpoch, precision, numExperts,
                numExpertShards, config, sharedLayout, expertLayout);
    }

    /** Pretty-printed JSON, as written to meta.json. */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", "spark-moe-checkpoint");
        root.put("formatVersion", formatVersion);
        root.put("step", step);
        root.put("epoch", epoch);
        root.put("stepInEpoch", stepInEpoch);
        root.put("precision", precision.name());
        root.put("numExperts", numExperts);
        root.put("numExpertShards", numExpertShards);
        ObjectNode cfg = root.putObject("config");
        config.forEach(cfg::put);
        ObjectNode layouts = root.putObject("layouts");
        layoutJson(layouts.putArray("shared"), sharedLayout);
        layoutJson(layouts.putArray("expert"), expertLayout);
        try {
            return JSON.writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void layoutJson(ArrayNode arr, ParameterLayout layout) {
        for (ParameterLayout.Entry e : layout.entries()) {
            arr.addObject().put("name", e.name()).put("rows", e.rows()).put("cols", e.cols());
        }
    }

    /**
     * Parses JSON text (meta.json here, a saved model's spec.json in the application layer); an error
     * names {@code source}.
     */
    public static JsonNode readJson(String json, String source) throws IOException {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new IOException(source + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /**
     * Parses meta.json text; {@code source} names the file in error messages.
     *
     * @throws IOException if the text is not valid meta.json or has a format version this build cannot read
     */
    public static CheckpointMeta parse(String json, String source) throws IOException {
        JsonNode root = readJson(json, source);
        if (root == null || !root.isObject()) {
            throw new IOException(source + " does not hold a JSON object");
        }
        int version = (int) longField(root, "formatVersion", source);
        if (version != CheckpointStore.FORMAT_VERSION) {
            throw new IOException(source + " has checkpoint format version " + version + ", which this build cannot read (it reads version "
                    + CheckpointStore.FORMAT_VERSION + ")");
        }
        Map<String, String> config = new LinkedHashMap<>();
        JsonNode cfg = root.get("config");
        if (cfg != null && cfg.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = cfg.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                config.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText());
            }
        }
        JsonNode layouts = root.get("layouts");
        if (layouts == null || !layouts.isObject()) {
            throw new IOException(source + ": missing object field 'layouts'");
        }
        Precision precision;
        try {
            precision = Precision.valueOf(textField(root, "precision", source));
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": unknown precision '" + root.get("precision").asText() + "'");
        }
        try {
            return new CheckpointMeta(version, longField(root, "step", source), longField(root, "epoch", source),
                    longField(root, "stepInEpoch", source), precision, (int) longField(root, "numExperts", source),
                    (int) longField(root, "numExpertShards", source), config, parseLayout(layouts, "shared", source),
                    parseLayout(layouts, "expert", source));
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage(), e);
        }
    }

    private static ParameterLayout parseLayout(JsonNode layouts, String which, String source) throws IOException {
        JsonNode arr = layouts.get(which);
        if (arr == null || !arr.isArray()) {
            throw new IOException(source + ": missing array 'layouts." + which + "'");
        }
        ParameterLayout.Builder b = ParameterLayout.builder();
        for (JsonNode e : arr) {
            try {
                b.add(textField(e, "name", source), (int) longField(e, "rows", source), (int) longField(e, "cols", source));
            } catch (IllegalArgumentException | ArithmeticException x) {
                throw new IOException(source + ": invalid 'layouts." + which + "': " + x.getMessage(), x);
            }
        }
        return b.build();
    }

    private static long longField(JsonNode node, String name, String source) throws IOException {
        JsonNode v = node.get(name);
        if (v == null || !v.isIntegralNumber()) {
            throw new IOException(source + ": missing or non-integer field '" + name + "'");
        }
        return v.asLong();
    }

    private static String textField(JsonNode node, String name, String source) throws IOException {
        JsonNode v = node.get(name);
        if (v == null || !v.isTextual()) {
            throw new IOException(source + ": missing or non-string field '" + name + "'");
        }
        return v.asText();
    }
}
