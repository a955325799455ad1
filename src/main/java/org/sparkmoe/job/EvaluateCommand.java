package org.sparkmoe.job;

import org.apache.spark.api.java.JavaSparkContext;
import java.io.PrintStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.app.Publish;

/** {@code evaluate}: job.model on held-out data; prints and writes the metrics as JSON. */
class EvaluateCommand extends Command {
    EvaluateCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Loaded model = loadModel(cfg);
        JobData data = dataFor(cfg, model);
        for (String w : data.warnings) out.println("warning: " + w);
        Evaluator.Result r = Evaluator.evaluate(sc, model.spec().network(), model.state().params(), data.heldout, data.corpus);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.dir().toString());
        m.putAll(r.toMap(model.spec().network().task()));
        checkFinite(m, model, data);
        if (data.outOfVocabulary.containsKey("heldout")) m.put("outOfVocabularyRate", data.outOfVocabulary.get("heldout"));
        String js = json(m);
        out.println(js);
        String target = cfg.string("evaluate.output");
        if (target.isEmpty() && !cfg.string("output.dir").isEmpty()) target = new Path(cfg.string("output.dir"), "evaluation.json").toString();
        if (!target.isEmpty()) {
            Path p = new Path(target);
            p.getFileSystem(hadoop).mkdirs(p.getParent());
            Publish.replaceFile(p, js, hadoop);
            out.println("metrics written to " + p);
        }
        return MoEJob.OK;
    }

    /**
     * A metric that is not a finite number (its JSON would read null) is an error naming the model:
     * parameters that read as finite but overflow, or no held-out examples at all.
     */
    private static void checkFinite(Map<String, Object> metrics, Loaded model, JobData data) {
        for (Map.Entry<String, Object> e : metrics.entrySet()) {
            if (e.getValue() instanceof Double d && !Double.isFinite(d)) {
                Object n = metrics.get("examples");
                throw new JobData.InputException("evaluating the model " + model.dir() + " gives " + e.getKey() + " = " + d + " on "
                        + n + " examples of " + data.metadata.getOrDefault("heldout.path", data.metadata.getOrDefault("input.path",
                        "the built-in held-out data")) + (Long.valueOf(0).equals(n) ? ": there is no held-out data"
                        : ": its parameters (" + new Path(model.dir(), org.sparkmoe.app.ModelDirectory.PARAMETERS)
                        + ") make it unusable; retrain it or restore a good copy"));
            }
        }
    }
}
