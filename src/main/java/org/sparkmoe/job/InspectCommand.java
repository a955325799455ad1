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
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import com.fasterxml.jackson.databind.JsonNode;

/** {@code inspect}: job.model's spec, parameter counts and balance statistics. */
class InspectCommand extends Command {
    InspectCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
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
        Path summary = new Path(model.dir(), ModelDirectory.SUMMARY);
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
        out.println(json(m));
        return MoEJob.OK;
    }
}
