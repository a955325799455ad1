package org.sparkmoe.app;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.network.TokenContextEmbedding;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.ShufflePayload;

/**
 * The typed configuration of a training run, whichever face set it: the network's shape, the
 * engine's settings, the optimiser and the run (steps, checkpoints). The job fills it from its keys,
 * the estimators from their params ({@link Builder#set}); {@link #validate} makes the checks that
 * single values cannot (k against the experts, shards against the experts, ...), with messages in
 * the caller's vocabulary; {@link #networkSpec}, {@link #engineConfig} and {@link #trainerConfig}
 * are what the engine gets. Unset settings have their declared defaults ({@link Settings}).
 */
public final class MoEConfig implements Serializable {
    private static final long serialVersionUID = 1L;

    /** An error in a configuration; the job answers it with exit code 2. */
    public static class InvalidConfigException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public InvalidConfigException(String message) {
            super(message);
        }
    }

    private final Map<Setting, Object> values;

    private MoEConfig(Map<Setting, Object> values) {
        this.values = Map.copyOf(values);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Sets settings one at a time; each value is checked against its setting's rule as it is set. */
    public static final class Builder {
        private final Map<Setting, Object> values = new LinkedHashMap<>();
        private Setting.Face face = Setting.Face.ML;

        /** The vocabulary of error messages (job keys or param names; params by default). */
        public Builder face(Setting.Face f) {
            face = f;
            return this;
        }

        /** Sets {@code s} to {@code value} (a String is parsed; numbers and booleans are taken as they are). */
        public Builder set(Setting s, Object value) {
            String text = s.canonical(String.valueOf(value));
            if (!s.accepts(text)) {
                throw new InvalidConfigException(face == Setting.Face.JOB
                        ? "config key '" + s.jobKey() + "' has invalid value '" + value + "': expected " + s.allowed()
                        : "param " + s.name() + " has invalid value '" + value + "': expected " + s.allowed());
            }
            values.put(s, s.parse(text));
            return this;
        }

        /** The configuration, {@link MoEConfig#validate validated}. */
        public MoEConfig build() {
            MoEConfig c = new MoEConfig(values);
            c.validate(face);
            return c;
        }
    }

    // ------------------------------------------------------------------ access

    /** The value of {@code s}: as set, else its default (Integer, Long, Double, Boolean or String). */
    public Object get(Setting s) {
        Object v = values.get(s);
        return v != null ? v : s.defaultObject();
    }

    public int integer(Setting s) {
        return ((Number) get(s)).intValue();
    }

    public long longValue(Setting s) {
        return ((Number) get(s)).longValue();
    }

    public double number(Setting s) {
        return ((Number) get(s)).doubleValue();
    }

    public String string(Setting s) {
        return (String) get(s);
    }

    public boolean bool(Setting s) {
        return (Boolean) get(s);
    }

    public NetworkSpec.GatingType gating() {
        return switch (string(Settings.GATING)) {
            case "softmax" -> NetworkSpec.GatingType.SOFTMAX;
            case "hierarchical" -> NetworkSpec.GatingType.HIERARCHICAL;
            default -> NetworkSpec.GatingType.NOISY_TOP_K;
        };
    }

    /** The leaf experts: numExperts for flat gating, numGroups x expertsPerGroup for hierarchical. */
    public int numExperts() {
        return gating() == NetworkSpec.GatingType.HIERARCHICAL ? integer(Settings.NUM_GROUPS) * integer(Settings.EXPERTS_PER_GROUP)
                : integer(Settings.NUM_EXPERTS);
    }

    // ------------------------------------------------------------------ validation

    /**
     * The checks between settings, each an {@link InvalidConfigException} naming the settings the
     * way {@code face} names them: k within the experts (noisy top-k), kPrimary within the groups
     * and kSecondary within a group (hierarchical), the expert shards within the experts, a
     * vocabulary size of 0 (automatic) or at least 3.
     */
    public void validate(Setting.Face face) {
        String lm = string(Settings.LM_MODEL);
        if (!lm.equals("window") && string(Settings.ROUTING).equals("local") && string(Settings.PLACEMENT).equals("sharded")) {
            throw new InvalidConfigException(face.subject(Settings.ROUTING, get(Settings.ROUTING)) + " is not supported with "
                    + face.name(Settings.LM_MODEL) + " = " + lm + " and " + face.subject(Settings.PLACEMENT, get(Settings.PLACEMENT))
                    + ": the recurrent model's local routing runs driver-held experts in every partition (use "
                    + face.name(Settings.ROUTING) + " = shuffle or auto)");
        }
        if (lm.equals("lstm") || lm.equals("moe-1-wide")) return; // the model.* MoE keys do not shape these baselines' layer
        switch (gating()) {
            case HIERARCHICAL -> {
                atMost(face, Settings.K_PRIMARY, Settings.NUM_GROUPS);
                atMost(face, Settings.K_SECONDARY, Settings.EXPERTS_PER_GROUP);
            }
            case NOISY_TOP_K -> atMost(face, Settings.K, Settings.NUM_EXPERTS);
            case SOFTMAX -> {
            }
        }
        int v = integer(Settings.VOCABULARY_SIZE);
        if (v != 0 && v < 3) {
            throw new InvalidConfigException(face.subject(Settings.VOCABULARY_SIZE, v) + " is not allowed: expected "
                    + Settings.VOCABULARY_SIZE.allowed());
        }
        if (integer(Settings.EXPERT_SHARDS) > numExperts()) {
            throw new InvalidConfigException(face.subject(Settings.EXPERT_SHARDS, get(Settings.EXPERT_SHARDS))
                    + " must be <= the number of experts (" + numExperts() + ")");
        }
    }

    private void atMost(Setting.Face face, Setting s, Setting bound) {
        if (integer(s) > integer(bound)) {
            throw new InvalidConfigException(face.subject(s, get(s)) + " must be <= " + face.name(bound) + " (" + integer(bound) + ")");
        }
    }

    // ------------------------------------------------------------------ what the engine gets

    /**
     * The network for data of the given shape: for a language model {@code size} is the vocabulary
     * (input and output); for a feature task it is the feature count and {@code outputs} the classes
     * or regression outputs.
     */
    public NetworkSpec networkSpec(NetworkSpec.Task task, int size, int outputs) {
        boolean lm = task == NetworkSpec.Task.LANGUAGE_MODEL;
        try {
            return NetworkSpec.builder(task).inputDim(lm ? 0 : size).vocabulary(lm ? size : 0).context(integer(Settings.CONTEXT))
                    .embeddingDim(integer(Settings.EMBEDDING_DIM))
                    .combine(TokenContextEmbedding.Mode.valueOf(string(Settings.COMBINE).toUpperCase(java.util.Locale.ROOT)))
                    .modelDim(integer(Settings.MODEL_DIM)).outputs(outputs).gating(gating()).experts(integer(Settings.NUM_EXPERTS))
                    .k(integer(Settings.K)).groups(integer(Settings.NUM_GROUPS)).expertsPerGroup(integer(Settings.EXPERTS_PER_GROUP))
                    .kPrimary(integer(Settings.K_PRIMARY)).kSecondary(integer(Settings.K_SECONDARY))
                    .expertHidden(integer(Settings.EXPERT_HIDDEN_SIZE)).residual(bool(Settings.RESIDUAL))
                    .wImportance(number(Settings.W_IMPORTANCE)).wLoad(number(Settings.W_LOAD)).build();
        } catch (IllegalArgumentException e) {
            throw new InvalidConfigException(e.getMessage());
        }
    }

    public Precision precision() {
        return string(Settings.PRECISION).equals("f64") ? Precision.F64 : Precision.F32;
    }

    /** Adam with a linear warm-up then 1/sqrt(step) decay, or a constant rate when warmupSteps is 0. */
    public TrainerConfig trainerConfig() {
        double rate = number(Settings.STEP_SIZE);
        int warmup = integer(Settings.WARMUP_STEPS);
        LearningRateSchedule schedule = warmup > 0 ? LearningRateSchedule.warmupInverseSqrt(rate, warmup)
                : LearningRateSchedule.constant(rate);
        return new TrainerConfig(new Adam(), schedule, number(Settings.CLIP_NORM), longValue(Settings.SEED), precision());
    }

    /** The recurrent language model's kind ({@code lm.model}): window (not recurrent), lstm, moe-1-wide or lstm-moe. */
    public String languageModel() {
        return string(Settings.LM_MODEL);
    }

    public EngineConfig engineConfig() {
        String routing = string(Settings.ROUTING);
        // auto: the engine picks local routing for a small model on the driver (RoutingMode.resolve; a recurrent step's batch is S*T rows)
        return EngineConfig.of(routing.equals("local") ? RoutingMode.LOCAL : routing.equals("auto") ? RoutingMode.AUTO : RoutingMode.SHUFFLE,
                string(Settings.PLACEMENT).equals("sharded") ? ExpertPlacement.SHARDED : ExpertPlacement.DRIVER,
                integer(Settings.EXPERT_SHARDS), integer(Settings.BATCH_SIZE), trainerConfig())
                .withShufflePayload(string(Settings.SHUFFLE_PAYLOAD).equals("bf16") ? ShufflePayload.BF16 : ShufflePayload.F32);
    }
}
