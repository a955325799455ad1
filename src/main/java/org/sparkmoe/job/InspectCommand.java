package org.sparkmoe.job;

import org.apache.spark.api.java.JavaSparkContext;
import java.io.PrintStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Publish;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import com.fasterxml.jackson.databind.JsonNode;

/** {@code inspect}: job.model's spec, parameter counts and balance statistics (a recurrent language model's shape and tensors). */
class InspectCommand extends Command {
    InspectCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        java.util.Optional<RecurrentLm.Saved> recurrent = recurrentModel(cfg);
        if (recurrent.isPresent()) return inspectRecurrent(recurrent.get());
        Loaded model = loadModel(cfg);
        NetworkSpec ns = model.spec().network();
        MoENetwork net = ns.build();
        long shared = net.sharedLayout().size();
        long expert = net.moe().expert().layout().size();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.dir().toString());
        m.put("network", ns.toMap());
        m.put("data", model.spec().data());
        m.put("provenance", model.spec().provenance());
        m.put("steps", model.state().step());
        m.put("precision", model.state().params().shared().precision().toString());
        m.put("parametersTotal", shared + expert * ns.numExperts());
        m.put("parametersActivePerExample", shared + expert * ns.activeExperts());
        m.put("parametersShared", shared);
        m.put("parametersPerExpert", expert);
        summary(model.dir(), m);
        out.println(json(m));
        return MoEJob.OK;
    }

    /** The run's figures from summary.json, when the model has one. */
    private void summary(Path dir, Map<String, Object> m) throws IOException {
        Path summary = new Path(dir, ModelDirectory.SUMMARY);
        if (summary.getFileSystem(hadoop).exists(summary)) {
            JsonNode s = ModelDirectory.JSON.readTree(Publish.readText(summary, hadoop));
            Map<String, Object> bal = new LinkedHashMap<>();
            for (String k : List.of("cvImportance", "cvLoad", "maxOverMeanLoad", "heldoutTop1MaxOverMeanShare", "specialisationNmi",
                    "finalTrainLoss", "tokensPerSecond")) {
                if (s.has(k)) bal.put(k, s.get(k).isNumber() ? s.get(k).asDouble() : null);
            }
            if (s.has("heldout")) bal.put("heldout", ModelDirectory.JSON.convertValue(s.get("heldout"), Map.class));
            m.put("summary", bal);
        }
    }

    /**
     * A recurrent language model: its kind and shape (V, d, dropout, T, S; the MoE between the LSTMs,
     * or none, or one wide expert), every shared tensor's shape, parameter counts and FLOPs per token.
     */
    private int inspectRecurrent(RecurrentLm.Saved model) throws IOException {
        NetworkSpec ns = model.spec().network();
        RecurrentSpec r = model.spec().recurrent();
        RecurrentLanguageModel rm = model.model();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.dir().toString());
        m.put("lm.model", r.kind());
        Map<String, Object> shape = new LinkedHashMap<>();
        shape.put("vocabulary", rm.vocabulary());
        shape.put("dim", rm.dim());
        shape.put("dropout", r.dropout());
        shape.put("seqLength", r.seqLength());
        shape.put("streams", r.streams());
        shape.put("layers", "embedding -> LSTM -> " + (rm.moe() == null ? "" : "MoE -> ") + "LSTM -> softmax");
        shape.put("moe", switch (r.kind()) {
            case "lstm" -> "none";
            case "moe-1-wide" -> "one always-on expert of hidden " + ns.activeExperts() * ns.expertHidden();
            default -> ns.gating() + " gating, " + ns.numExperts() + " experts of hidden " + ns.expertHidden() + ", "
                    + ns.activeExperts() + " per token, wImportance " + ns.wImportance() + ", wLoad " + ns.wLoad();
        });
        m.put("recurrent", shape);
        m.put("data", model.spec().data());
        m.put("provenance", model.spec().provenance());
        m.put("steps", model.state().step());
        m.put("precision", model.state().params().shared().precision().toString());
        m.putAll(TrainCommand.recurrentSize(model.spec(), rm));
        Map<String, String> tensors = new LinkedHashMap<>();
        for (ParameterLayout.Entry e : rm.sharedLayout().entries()) tensors.put(e.name(), e.rows() + "x" + e.cols());
        if (rm.moe() != null) {
            for (ParameterLayout.Entry e : rm.moe().expert().layout().entries()) tensors.put("expert." + e.name(), e.rows() + "x" + e.cols());
        }
        m.put("tensors", tensors);
        summary(model.dir(), m);
        out.println(json(m));
        return MoEJob.OK;
    }
}
