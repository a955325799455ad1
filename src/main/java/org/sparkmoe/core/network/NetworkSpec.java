package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.Gating;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;

/**
 * A complete, validated description of an {@link MoENetwork}: what a saved model records so that
 * the network can be rebuilt, and what a job or estimator configures. Stored as flat string
 * key/values ({@link #toMap()} / {@link #fromMap}) so every layer above can write it as JSON or
 * properties without the core depending on a JSON library.
 *
 * @param task           what the head predicts
 * @param inputDim       feature count (feature tasks); ignored for language models
 * @param vocabulary     vocabulary size V (language models: input and output)
 * @param context        tokens of context c (language models)
 * @param embeddingDim   per-position embedding width (language models)
 * @param combine        how the c position embeddings combine (language models)
 * @param modelDim       d: width of the rows the MoE layer sees and produces
 * @param outputs        classes (classification) or regression outputs; V for language models
 * @param gating         gating network type
 * @param experts        n: experts (flat gating)
 * @param k              experts per example (flat gating)
 * @param groups         a: groups of a hierarchical MoE (primary gate over groups)
 * @param expertsPerGroup b: experts in each group
 * @param kPrimary       groups per example (hierarchical)
 * @param kSecondary     experts per example within a group (hierarchical)
 * @param expertHidden   h: hidden width of each expert
 * @param residual       y = x + MoE(x) instead of MoE(x)
 * @param wImportance    weight of the importance loss (paper eq. 7)
 * @param wLoad          weight of the load loss (paper eq. 11)
 */
public record NetworkSpec(Task task, int inputDim, int vocabulary, int context, int embeddingDim,
                          TokenContextEmbedding.Mode combine, int modelDim, int outputs, GatingType gating, int experts, int k,
                          int groups, int expertsPerGroup, int kPrimary, int kSecondary, int expertHidden, boolean residual,
                          double wImportance, double wLoad) implements Serializable {

    /** What the output head predicts. */
    public enum Task { LANGUAGE_MODEL, CLASSIFICATION, REGRESSION }

    /** The gating network (paper section 2.1 and appendix B). */
    public enum GatingType { SOFTMAX, NOISY_TOP_K, HIERARCHICAL }

    public NetworkSpec {
        require(task != null, "task", "must be set");
        require(gating != null, "gating", "must be set");
        require(modelDim > 0, "modelDim", "must be positive, got " + modelDim);
        require(expertHidden > 0, "expertHidden", "must be positive, got " + expertHidden);
        if (task == Task.LANGUAGE_MODEL) {
            require(vocabulary > 0, "vocabulary", "must be positive, got " + vocabulary);
            require(context > 0, "context", "must be positive, got " + context);
            require(embeddingDim > 0, "embeddingDim", "must be positive, got " + embeddingDim);
            require(combine != null, "combine", "must be SUM or CONCAT");
            require(outputs == vocabulary, "outputs", "must equal the vocabulary size " + vocabulary + " for a language model, got " + outputs);
        } else {
            require(inputDim > 0, "inputDim", "must be positive, got " + inputDim);
            require(outputs > 0, "outputs", "must be positive, got " + outputs);
            require(task != Task.CLASSIFICATION || outputs >= 2, "outputs", "a classifier needs at least 2 classes, got " + outputs);
        }
        if (gating == GatingType.HIERARCHICAL) {
            require(groups > 0, "groups", "must be positive, got " + groups);
            require(expertsPerGroup > 0, "expertsPerGroup", "must be positive, got " + expertsPerGroup);
            require(kPrimary >= 1 && kPrimary <= groups, "kPrimary", "must be in [1, groups = " + groups + "], got " + kPrimary);
            require(kSecondary >= 1 && kSecondary <= expertsPerGroup, "kSecondary",
                    "must be in [1, expertsPerGroup = " + expertsPerGroup + "], got " + kSecondary);
        } else {
            require(experts > 0, "experts", "must be positive, got " + experts);
            require(gating == GatingType.SOFTMAX || (k >= 1 && k <= experts), "k", "must be in [1, experts = " + experts + "], got " + k);
        }
        require(wImportance >= 0 && Double.isFinite(wImportance), "wImportance", "must be finite and >= 0, got " + wImportance);
        require(wLoad >= 0 && Double.isFinite(wLoad), "wLoad", "must be finite and >= 0, got " + wLoad);
    }

    private static void require(boolean ok, String key, String message) {
        if (!ok) throw new IllegalArgumentException("model setting '" + key + "' " + message);
    }

    /** Leaf experts of the MoE layer. */
    public int numExperts() {
        return gating == GatingType.HIERARCHICAL ? groups * expertsPerGroup : experts;
    }

    /** Experts evaluated per example. */
    public int activeExperts() {
        return switch (gating) {
            case SOFTMAX -> experts;
            case NOISY_TOP_K -> k;
            case HIERARCHICAL -> kPrimary * kSecondary;
        };
    }

    public MoENetwork build() {
        return new MoENetwork(input(), new MoELayer(gatingNetwork(), new Expert(modelDim, expertHidden), residual,
                new BalanceWeights(wImportance, wLoad)), head());
    }

    /** The dense baseline with the same compute per example: one always-on expert of hidden size active * h. */
    public MoENetwork denseBaseline() {
        return MoENetwork.dense(input(), activeExperts() * expertHidden, residual, head());
    }

    private InputLayer input() {
        return task == Task.LANGUAGE_MODEL ? new TokenContextEmbedding(vocabulary, context, embeddingDim, modelDim, combine)
                : new DenseProjection(inputDim, modelDim);
    }

    private OutputHead head() {
        return task == Task.REGRESSION ? new SquaredErrorHead(modelDim, outputs) : new SoftmaxCrossEntropyHead(modelDim, outputs);
    }

    private Gating gatingNetwork() {
        return switch (gating) {
            case SOFTMAX -> NoisyTopKGating.softmax(modelDim, experts);
            case NOISY_TOP_K -> NoisyTopKGating.noisyTopK(modelDim, experts, k);
            case HIERARCHICAL -> new HierarchicalGating(modelDim, groups, expertsPerGroup, kPrimary, kSecondary, true);
        };
    }

    /** Every field as a string, in declaration order. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("task", task.name());
        m.put("inputDim", Integer.toString(inputDim));
        m.put("vocabulary", Integer.toString(vocabulary));
        m.put("context", Integer.toString(context));
        m.put("embeddingDim", Integer.toString(embeddingDim));
        m.put("combine", combine == null ? "" : combine.name());
        m.put("modelDim", Integer.toString(modelDim));
        m.put("outputs", Integer.toString(outputs));
        m.put("gating", gating.name());
        m.put("experts", Integer.toString(experts));
        m.put("k", Integer.toString(k));
        m.put("groups", Integer.toString(groups));
        m.put("expertsPerGroup", Integer.toString(expertsPerGroup));
        m.put("kPrimary", Integer.toString(kPrimary));
        m.put("kSecondary", Integer.toString(kSecondary));
        m.put("expertHidden", Integer.toString(expertHidden));
        m.put("residual", Boolean.toString(residual));
        m.put("wImportance", Double.toString(wImportance));
        m.put("wLoad", Double.toString(wLoad));
        return m;
    }

    /** Inverse of {@link #toMap()}; a missing or malformed key is an error that names it. */
    public static NetworkSpec fromMap(Map<String, String> map) {
        SpecFields m = new SpecFields(map, "model spec");
        return builder(Task.valueOf(m.text("task"))).inputDim(m.integer("inputDim")).vocabulary(m.integer("vocabulary"))
                .context(m.integer("context")).embeddingDim(m.integer("embeddingDim"))
                .combine(m.text("combine").isEmpty() ? null : TokenContextEmbedding.Mode.valueOf(m.text("combine")))
                .modelDim(m.integer("modelDim")).outputs(m.integer("outputs")).gating(GatingType.valueOf(m.text("gating")))
                .experts(m.integer("experts")).k(m.integer("k")).groups(m.integer("groups")).expertsPerGroup(m.integer("expertsPerGroup"))
                .kPrimary(m.integer("kPrimary")).kSecondary(m.integer("kSecondary")).expertHidden(m.integer("expertHidden"))
                .residual(Boolean.parseBoolean(m.text("residual"))).wImportance(m.number("wImportance")).wLoad(m.number("wLoad"))
                .buildExactly();
    }

    /** A flat noisy top-k language model. */
    public static NetworkSpec languageModel(int vocabulary, int context, int embeddingDim, int modelDim, int experts, int k,
                                            int expertHidden, double wImportance, double wLoad) {
        return builder(Task.LANGUAGE_MODEL).vocabulary(vocabulary).context(context).embeddingDim(embeddingDim).modelDim(modelDim)
                .experts(experts).k(k).expertHidden(expertHidden).wImportance(wImportance).wLoad(wLoad).build();
    }

    /** A flat noisy top-k model over feature vectors. */
    public static NetworkSpec features(Task task, int inputDim, int outputs, int modelDim, int experts, int k, int expertHidden,
                                       double wImportance, double wLoad) {
        return builder(task).inputDim(inputDim).outputs(outputs).modelDim(modelDim).experts(experts).k(k).expertHidden(expertHidden)
                .wImportance(wImportance).wLoad(wLoad).build();
    }

    /** A builder for {@code task}: flat noisy top-k gating, concatenated embeddings, no residual until set otherwise. */
    public static Builder builder(Task task) {
        return new Builder(task);
    }

    /**
     * Builds a spec by name rather than position. {@link #build()} keeps only what the task and
     * gating use (a language model's outputs are its vocabulary; the feature fields are zero for a
     * language model and the token fields for a feature model; flat fields are zero for hierarchical
     * gating and the hierarchy's for flat gating; k is zero unless the gating is noisy top-k), so two
     * specs of the same network compare equal however they were configured.
     */
    public static final class Builder {
        private final Task task;
        private int inputDim;
        private int vocabulary;
        private int context;
        private int embeddingDim;
        private TokenContextEmbedding.Mode combine = TokenContextEmbedding.Mode.CONCAT;
        private int modelDim;
        private int outputs;
        private GatingType gating = GatingType.NOISY_TOP_K;
        private int experts;
        private int k;
        private int groups;
        private int expertsPerGroup;
        private int kPrimary;
        private int kSecondary;
        private int expertHidden;
        private boolean residual;
        private double wImportance;
        private double wLoad;

        private Builder(Task task) {
            this.task = task;
        }

        public Builder inputDim(int v) { inputDim = v; return this; }
        public Builder vocabulary(int v) { vocabulary = v; return this; }
        public Builder context(int v) { context = v; return this; }
        public Builder embeddingDim(int v) { embeddingDim = v; return this; }
        public Builder combine(TokenContextEmbedding.Mode v) { combine = v; return this; }
        public Builder modelDim(int v) { modelDim = v; return this; }
        public Builder outputs(int v) { outputs = v; return this; }
        public Builder gating(GatingType v) { gating = v; return this; }
        public Builder experts(int v) { experts = v; return this; }
        public Builder k(int v) { k = v; return this; }
        public Builder groups(int v) { groups = v; return this; }
        public Builder expertsPerGroup(int v) { expertsPerGroup = v; return this; }
        public Builder kPrimary(int v) { kPrimary = v; return this; }
        public Builder kSecondary(int v) { kSecondary = v; return this; }
        public Builder expertHidden(int v) { expertHidden = v; return this; }
        public Builder residual(boolean v) { residual = v; return this; }
        public Builder wImportance(double v) { wImportance = v; return this; }
        public Builder wLoad(double v) { wLoad = v; return this; }

        /** The spec, with the fields the task and gating do not use zeroed (see the class comment). */
        public NetworkSpec build() {
            boolean lm = task == Task.LANGUAGE_MODEL;
            boolean hier = gating == GatingType.HIERARCHICAL;
            return new NetworkSpec(task, lm ? 0 : inputDim, lm ? vocabulary : 0, lm ? context : 0, lm ? embeddingDim : 0,
                    lm ? combine : null, modelDim, lm ? vocabulary : outputs, gating, hier ? 0 : experts,
                    gating == GatingType.NOISY_TOP_K ? k : 0, hier ? groups : 0, hier ? expertsPerGroup : 0,
                    hier ? kPrimary : 0, hier ? kSecondary : 0, expertHidden, residual, wImportance, wLoad);
        }

        /** The spec exactly as set (reading a stored spec). */
        NetworkSpec buildExactly() {
            return new NetworkSpec(task, inputDim, vocabulary, context, embeddingDim, combine, modelDim, outputs, gating, experts, k,
                    groups, expertsPerGroup, kPrimary, kSecondary, expertHidden, residual, wImportance, wLoad);
        }
    }
}
