package org.sparkmoe.job;

import org.apache.spark.api.java.JavaSparkContext;
import java.io.PrintStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Publish;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.train.TrainingState;

/**
 * {@code retrain}: warm-starts from the model retrain.root/LATEST names, trains on the run date's data, evaluates,
 * and publishes retrain.root/v-DATE and moves LATEST only when the evaluation bar is met.
 */
class RetrainCommand extends TrainCommand {
    RetrainCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Path root = new Path(cfg.required("retrain.root", "for retrain (the publish root)"));
        String date = cfg.required("retrain.date", "for retrain (the run date)");
        String version = "v-" + date;
        Path published = new Path(root, version);
        Path latest = new Path(root, MoEJob.LATEST);
        FileSystem fs = root.getFileSystem(hadoop);
        String current = fs.exists(latest) ? Publish.readText(latest, hadoop).trim() : "";
        if (fs.exists(new Path(published, ModelDirectory.SPEC))) {
            if (current.isEmpty() || current.compareTo(version) < 0) {
                Publish.replaceFile(latest, version + "\n", hadoop);
                out.println(version + " was published but LATEST pointed to '" + current + "'; LATEST now points to " + version);
            }
            out.println(version + " is already published at " + published + "; nothing to do");
            return MoEJob.OK;
        }
        ModelDirectory.Spec prevSpec = null;
        TrainingState warm = null;
        if (!current.isEmpty()) {
            Path prev = new Path(root, current);
            prevSpec = ModelDirectory.readSpec(prev, hadoop);
            warm = ModelDirectory.readState(prev, prevSpec, hadoop);
            out.println("warm start from " + prev + " (step " + warm.step() + ")");
        } else {
            out.println("no LATEST under " + root + ": cold start");
        }
        JobData data = JobData.load(sc, cfg, prevSpec, current.isEmpty() ? null : new Path(root, current));
        ModelDirectory.Spec spec = spec(cfg, data, prevSpec);
        Map<String, String> prov = new LinkedHashMap<>(spec.provenance());
        prov.put("version", version);
        if (!current.isEmpty()) prov.put("warmStartFrom", current);
        spec = new ModelDirectory.Spec(spec.network(), spec.data(), prov);
        if (prevSpec != null && !prevSpec.network().equals(spec.network())) {
            throw new JobConfig.ConfigException("the configured model differs from the published " + current + ": "
                    + difference(prevSpec.network(), spec.network()) + " (a warm start needs the same network)");
        }
        fs.mkdirs(root);
        Path work = Publish.tempSibling(new Path(root, "_run-" + version), hadoop);
        try {
            Trained t = trainAndBuild(cfg, data, spec, work, warm);
            String failure = bar(cfg, spec.network().task(), t.eval());
            if (failure != null) {
                out.println("rejected: " + failure + "; nothing published (LATEST still '" + current + "')");
                return MoEJob.REJECTED;
            }
            Publish.publish(t.modelTmp(), published, hadoop);
            Publish.replaceFile(latest, version + "\n", hadoop);
            out.println("published " + published + "; LATEST -> " + version);
            out.println("summary: " + json(t.summary()));
            return MoEJob.OK;
        } finally {
            fs.delete(work, true);
            for (org.apache.hadoop.fs.FileStatus st : fs.listStatus(root)) {
                String n = st.getPath().getName();
                if (n.startsWith(".model.tmp-") || n.startsWith("." + "_run-" + version)) fs.delete(st.getPath(), true);
            }
        }
    }

    /** Why the evaluation fails the configured bar, or null when it passes. */
    static String bar(JobConfig cfg, NetworkSpec.Task task, Evaluator.Result r) {
        switch (task) {
            case LANGUAGE_MODEL -> {
                double max = cfg.number("bar.maxPerplexity");
                if (!Double.isNaN(max) && !(r.perplexity() <= max)) {
                    return "held-out perplexity " + r.perplexity() + " > bar.maxPerplexity " + max;
                }
            }
            case CLASSIFICATION -> {
                double min = cfg.number("bar.minAccuracy");
                if (!Double.isNaN(min) && !(r.accuracy() >= min)) return "held-out accuracy " + r.accuracy() + " < bar.minAccuracy " + min;
            }
            case REGRESSION -> {
                double max = cfg.number("bar.maxRmse");
                if (!Double.isNaN(max) && !(r.rmse() <= max)) return "held-out RMSE " + r.rmse() + " > bar.maxRmse " + max;
            }
        }
        return null;
    }
}
