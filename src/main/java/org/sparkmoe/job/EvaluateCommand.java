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
        Evaluator.Result r = Evaluator.evaluate(sc, model.spec().network(), model.state().params(), data.heldout, data.corpus);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.dir().toString());
        m.putAll(r.toMap(model.spec().network().task()));
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
}
