package org.sparkmoe.engine.metrics;

import java.io.IOException;
import java.io.Serializable;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * What one training step reports, one line of a {@link MetricsLog}.
 *
 * <p>JSON has no NaN or Infinity: {@link #toJson()} writes non-finite numbers (a diverged loss, a
 * CV over zero experts) as {@code null}, and {@link #parse} reads {@code null} back as NaN, so
 * Infinity does not survive a round trip.
 *
 * @param examples       examples in the step's global batch
 * @param minExpertBatch smallest number of tokens any expert received this step
 * @param maxExpertBatch largest number of tokens any expert received this step
 * @param timingsMs      milliseconds per phase, in insertion order (keys such as {@link #GATE},
 *                       {@link #DISPATCH}, {@link #EXPERTS}, {@link #COMBINE}, {@link #AGGREGATE},
 *                       {@link #OPTIMISER}, {@link #STEP_JOB}, {@link #DRIVER_BUILD},
 *                       {@link #DRIVER_RELEASE}; others are allowed). The Spark
 *                       engine runs a step as one job whose
 *                       stages overlap, so its {@link #GATE}, {@link #DISPATCH}, {@link #EXPERTS}
 *                       and {@link #COMBINE} are <em>task</em> time summed over the step's tasks
 *                       (tasks run side by side, so these can add up to more than the step; a
 *                       recomputed task counts again), {@link #STEP_JOB} is the driver's wall time
 *                       for that job, {@link #AGGREGATE} the driver's wall time summing the
 *                       collected per-partition records, and {@link #OPTIMISER} the driver's wall
 *                       time for the update (its second job); {@link #DRIVER_BUILD} and
 *                       {@link #DRIVER_RELEASE} are the driver's own wall time before the job is
 *                       submitted and after the update.
 */
public record StepMetrics(long step, long examples, double taskLoss, double importanceLoss, double loadLoss,
                          double cvImportance, double cvLoad, double maxOverMeanLoad, long minExpertBatch,
                          long maxExpertBatch, double tokensPerSecond, Map<String, Double> timingsMs) implements Serializable {

    public static final String GATE = "gate";
    public static final String DISPATCH = "dispatch";
    public static final String EXPERTS = "experts";
    public static final String COMBINE = "combine";
    public static final String AGGREGATE = "aggregate";
    public static final String OPTIMISER = "optimiser";
    /** The Spark engine's step job, wall time on the driver. */
    public static final String STEP_JOB = "step job";
    /** The driver's wall time building the step's broadcast and RDDs, before its job is submitted (inside {@link #STEP_JOB}). */
    public static final String DRIVER_BUILD = "driver build";
    /** The driver's wall time after the update: unpersisting the step's RDDs, destroying its broadcast. */
    public static final String DRIVER_RELEASE = "driver release";

    private static final ObjectMapper JSON = new ObjectMapper();

    public StepMetrics {
        timingsMs = Collections.unmodifiableMap(new LinkedHashMap<>(timingsMs == null ? Map.of() : timingsMs));
    }

    /** The standard timing map, in phase order. */
    public static Map<String, Double> timings(double gate, double dispatch, double experts, double combine, double aggregate,
                                              double optimiser) {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put(GATE, gate);
        m.put(DISPATCH, dispatch);
        m.put(EXPERTS, experts);
        m.put(COMBINE, combine);
        m.put(AGGREGATE, aggregate);
        m.put(OPTIMISER, optimiser);
        return m;
    }

    /** One line of JSON (no newline); non-finite numbers become {@code null}. */
    public String toJson() {
        StringBuilder sb = new StringBuilder(320);
        sb.append("{\"step\":").append(step)
                .append(",\"examples\":").append(examples);
        num(sb, "taskLoss", taskLoss);
        num(sb, "importanceLoss", importanceLoss);
        num(sb, "loadLoss", loadLoss);
        num(sb, "cvImportance", cvImportance);
        num(sb, "cvLoad", cvLoad);
        num(sb, "maxOverMeanLoad", maxOverMeanLoad);
        sb.append(",\"minExpertBatch\":").append(minExpertBatch)
                .append(",\"maxExpertBatch\":").append(maxExpertBatch);
        num(sb, "tokensPerSecond", tokensPerSecond);
        sb.append(",\"timingsMs\":{");
        boolean first = true;
        for (Map.Entry<String, Double> e : timingsMs.entrySet()) {
            if (!first) sb.append(',');
            first = false;
            string(sb, e.getKey());
            sb.append(':');
            value(sb, e.getValue() == null ? Double.NaN : e.getValue());
        }
        return sb.append("}}").toString();
    }

    private static void num(StringBuilder sb, String name, double v) {
        sb.append(",\"").append(name).append("\":");
        value(sb, v);
    }

    private static void value(StringBuilder sb, double v) {
        // Double.toString of a finite double ("1.0E-5", "-0.0", "3.0") is a valid JSON number.
        if (Double.isFinite(v)) sb.append(v);
        else sb.append("null");
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /** Parses a line written by {@link #toJson()}; {@code null} numbers read as NaN, missing ones too. */
    public static StepMetrics parse(String line) throws IOException {
        JsonNode n = JSON.readTree(line);
        if (n == null || !n.isObject()) {
            throw new IOException("not a JSON object: " + line);
        }
        Map<String, Double> timings = new LinkedHashMap<>();
        JsonNode t = n.get("timingsMs");
        if (t != null && t.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = t.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                timings.put(e.getKey(), d(e.getValue()));
            }
        }
        return new StepMetrics(l(n, "step"), l(n, "examples"), d(n.get("taskLoss")), d(n.get("importanceLoss")),
                d(n.get("loadLoss")), d(n.get("cvImportance")), d(n.get("cvLoad")), d(n.get("maxOverMeanLoad")),
                l(n, "minExpertBatch"), l(n, "maxExpertBatch"), d(n.get("tokensPerSecond")), timings);
    }

    private static double d(JsonNode v) {
        return v == null || !v.isNumber() ? Double.NaN : v.asDouble();
    }

    private static long l(JsonNode n, String name) throws IOException {
        JsonNode v = n.get(name);
        if (v == null || !v.isIntegralNumber()) {
            throw new IOException("missing or non-integer field '" + name + "'");
        }
        return v.asLong();
    }
}
