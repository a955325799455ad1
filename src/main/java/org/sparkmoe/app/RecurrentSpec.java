package org.sparkmoe.app;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.network.SpecFields;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;

/**
 * What a saved recurrent language model (paper section 5.1, appendix C: embedding -> LSTM -> MoE ->
 * LSTM -> softmax) records beside its {@link NetworkSpec}: spec.json's {@code "recurrent"} object.
 * The network gives V ({@code vocabulary}), d ({@code modelDim}) and the MoE; which MoE the model has
 * follows from {@code kind}:
 * <ul>
 *   <li>{@code lstm}: none (the LSTM-LSTM baseline of table 7; the network's MoE fields are unused);</li>
 *   <li>{@code moe-1-wide}: one always-on expert of hidden k*h (table 7's MoE-1-Wide, k =
 *       {@link NetworkSpec#activeExperts()}, h = {@link NetworkSpec#expertHidden()});</li>
 *   <li>{@code lstm-moe}: the network's MoE (flat or hierarchical gating, n experts of hidden h,
 *       balance weights).</li>
 * </ul>
 * {@code seqLength} (T) and {@code streams} (S) are the shape of training: a resumed or warm-started
 * run keeps them.
 *
 * @param kind      lstm, moe-1-wide or lstm-moe
 * @param dropout   DropProb of appendix C, in [0, 1)
 * @param seqLength T, tokens per window of truncated back-propagation through time
 * @param streams   S, sequences per training step
 */
public record RecurrentSpec(String kind, double dropout, int seqLength, int streams) implements java.io.Serializable {
    /** The recurrent kinds, as {@code lm.model} names them. */
    public static final List<String> KINDS = List.of("lstm", "moe-1-wide", "lstm-moe");

    public RecurrentSpec {
        if (!KINDS.contains(kind)) throw new IllegalArgumentException("recurrent model kind must be one of " + KINDS + ", got '" + kind + "'");
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("recurrent model dropout must be in [0, 1), got " + dropout);
        if (seqLength < 1) throw new IllegalArgumentException("recurrent model seqLength must be positive, got " + seqLength);
        if (streams < 1) throw new IllegalArgumentException("recurrent model streams must be positive, got " + streams);
    }

    /** The model {@code network} (V, d, the MoE) and this spec describe. */
    public RecurrentLanguageModel model(NetworkSpec network) {
        int v = network.vocabulary(), d = network.modelDim();
        return switch (kind) {
            case "lstm" -> RecurrentLanguageModel.lstmOnly(v, d, dropout);
            // table 7's baseline: the MoE rows' compute per token in one always-on expert
            case "moe-1-wide" -> RecurrentLanguageModel.moeOneWide(v, d, network.activeExperts() * network.expertHidden(), dropout);
            default -> RecurrentLanguageModel.withMoE(v, d, network.build().moe().gating(), network.expertHidden(),
                    new BalanceWeights(network.wImportance(), network.wLoad()), dropout);
        };
    }

    /** Experts active per token: 0 (lstm), 1 (moe-1-wide) or the network's k. */
    public int activeExperts(NetworkSpec network) {
        return switch (kind) {
            case "lstm" -> 0;
            case "moe-1-wide" -> 1;
            default -> network.activeExperts();
        };
    }

    /**
     * The engine config of a training run of {@code model} (this spec's): the configured routing (AUTO
     * resolves on the S*T rows of a step), the expert shards within the model's experts (driver
     * placement without experts), a batch of S*T tokens, the configured trainer and shuffle payload.
     */
    public EngineConfig engineConfig(EngineConfig configured, RecurrentLanguageModel model) {
        int shards = Math.max(1, Math.min(configured.expertShards(), Math.max(1, model.numExperts())));
        ExpertPlacement placement = model.numExperts() == 0 ? ExpertPlacement.DRIVER : configured.placement();
        return EngineConfig.of(configured.routing(), placement, shards, Math.multiplyExact(streams, seqLength), configured.trainer())
                .withShufflePayload(configured.shufflePayload());
    }

    /** The layouts of a model's parameter table: shared tensors, one expert's tensors (empty without an MoE), the expert count. */
    public static ParameterTable.Shape shape(RecurrentLanguageModel model) {
        ParameterLayout expert = model.moe() == null ? ParameterLayout.builder().build() : model.moe().expert().layout();
        return new ParameterTable.Shape(model.sharedLayout(), expert, model.numExperts());
    }

    /** spec.json's {@code "recurrent"} object. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("kind", kind);
        m.put("dropout", Double.toString(dropout));
        m.put("seqLength", Integer.toString(seqLength));
        m.put("streams", Integer.toString(streams));
        return m;
    }

    /** Inverse of {@link #toMap()}; a missing or malformed key is an error naming it. */
    public static RecurrentSpec fromMap(Map<String, String> m) {
        SpecFields f = new SpecFields(m, "recurrent model spec");
        return new RecurrentSpec(f.text("kind"), f.number("dropout"), f.integer("seqLength"), f.integer("streams"));
    }

    /**
     * A spec.json written before the {@code "recurrent"} object existed kept these fields in
     * {@code data} under the job's keys ({@code lm.model}, {@code lm.dropout}, {@code lm.seqLength},
     * {@code lm.streams}); null when {@code data} records no recurrent model.
     */
    static RecurrentSpec fromJobData(Map<String, String> data) {
        String kind = data.get(Settings.LM_MODEL.jobKey());
        if (kind == null || kind.equals("window")) return null;
        Map<String, String> m = new LinkedHashMap<>();
        m.put("kind", kind);
        m.put("dropout", data.get(Settings.LM_DROPOUT.jobKey()));
        m.put("seqLength", data.get(Settings.LM_SEQ_LENGTH.jobKey()));
        m.put("streams", data.get(Settings.LM_STREAMS.jobKey()));
        return fromMap(m);
    }
}
