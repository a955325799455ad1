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
import org.sparkmoe.app.RunLock;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.train.TrainingState;

/**
 * {@code retrain}: warm-starts from the model retrain.root/LATEST names, trains on the run date's data, evaluates,
 * and publishes retrain.root/v-DATE and moves LATEST only when the evaluation bar is met. The recurrent language model
 * ({@code lm.model} other than window) warm-starts the same way: its parameters, optimiser state and step, its vocabulary,
 * fresh document streams from a zero LSTM state.
 */
class RetrainCommand extends TrainCommand {
    RetrainCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Path root = new Path(cfg.required("retrain.root", "for retrain (the publish root)"));
        String date = cfg.required("retrain.date", "for retrain (the run date)");
        boolean force = cfg.bool("retrain.force");
        try (RunLock lock = lock(root, "retrain.root", "retrain")) {
            return retrain(cfg, root, "v-" + date, force);
        }
    }

    private int retrain(JobConfig cfg, Path root, String version, boolean force) throws IOException {
        Path published = new Path(root, version);
        Path latest = new Path(root, MoEJob.LATEST);
        FileSystem fs = root.getFileSystem(hadoop);
        PublishRoot pub = new PublishRoot(root, hadoop);
        String current = pub.latest();
        java.util.Set<String> withdrawn = pub.withdrawn();
        if (fs.exists(new Path(published, ModelDirectory.SPEC)) && !force) {
            if (withdrawn.contains(version)) {
                out.println(version + " is published but was withdrawn by a rollback (" + new Path(root, PublishRoot.WITHDRAWN)
                        + "); LATEST stays '" + current + "'. Set retrain.force=true to retrain and republish it");
                return MoEJob.OK;
            }
            if (current.isEmpty() || current.compareTo(version) < 0) {
                Publish.replaceFile(latest, version + "\n", hadoop);
                out.println(version + " was published but LATEST pointed to '" + current + "'; LATEST now points to " + version);
            }
            out.println(version + " is already published at " + published + "; nothing to do");
            return MoEJob.OK;
        }
        if (!current.isEmpty() && version.compareTo(current) < 0 && !force) {
            throw new JobConfig.ConfigException("config key 'retrain.date': " + version + " is older than " + current
                    + ", the version LATEST names: publishing it would move LATEST back. Dates only move forward; for a backfill"
                    + " set retrain.force=true, to go back to a published version use the rollback command");
        }
        // the model to continue from: LATEST, or for a forced older date the newest published version before it
        String from = !current.isEmpty() && current.compareTo(version) < 0 ? current : force ? pub.newestBefore(version, withdrawn) : "";
        ModelDirectory.Spec prevSpec = null;
        TrainingState warm = null;
        if (!from.isEmpty()) {
            Path prev = new Path(root, from);
            prevSpec = ModelDirectory.readSpec(prev, hadoop);
            if (prevSpec.isRecurrent() != cfg.recurrent()) {
                throw new JobConfig.ConfigException("the configured model differs from the published " + from + ": lm.model "
                        + RecurrentLm.kind(prevSpec) + " there, " + cfg.string("lm.model") + " now (a warm start needs the same network)");
            }
            warm = ModelDirectory.readState(prev, prevSpec, hadoop);
            out.println("warm start from " + prev + " (step " + warm.step() + ")");
        } else {
            out.println("no earlier version under " + root + ": cold start");
        }
        JobData data = null;
        RecurrentLm.Documents docs = null;
        ModelDirectory.Spec spec;
        if (cfg.recurrent()) {
            // the published model's words keep their ids: its embedding and softmax rows go on meaning the same words
            docs = RecurrentLm.load(sc, cfg, from.isEmpty() ? null : RecurrentLm.vocabulary(new Path(root, from), prevSpec, hadoop));
            spec = recurrentSpec(cfg, docs, prevSpec);
        } else {
            data = JobData.load(sc, cfg, prevSpec, from.isEmpty() ? null : new Path(root, from));
            for (String w : data.warnings) out.println("warning: " + w);
            spec = spec(cfg, data, prevSpec);
        }
        Map<String, String> prov = new LinkedHashMap<>(spec.provenance());
        prov.put("version", version);
        if (!from.isEmpty()) prov.put("warmStartFrom", from);
        spec = new ModelDirectory.Spec(spec.network(), spec.data(), prov, spec.recurrent());
        if (prevSpec != null) {
            String diff = difference(prevSpec.network(), spec.network()), shape = RecurrentLm.shapeDifference(prevSpec, spec);
            if (!diff.isEmpty() || !shape.isEmpty()) {
                throw new JobConfig.ConfigException("the configured model differs from the published " + from + ": "
                        + (diff.isEmpty() ? shape : shape.isEmpty() ? diff : diff + ", " + shape) + " (a warm start needs the same network)");
            }
        }
        Path work = Publish.tempSibling(new Path(root, "_run-" + version), hadoop);
        try {
            Trained t = data != null ? trainAndBuild(cfg, data, spec, work, warm) : trainRecurrentAndBuild(cfg, docs, spec, work, warm);
            String failure = bar(cfg, spec.network().task(), t.eval());
            if (failure != null) {
                out.println("rejected: " + failure + "; nothing published (LATEST still '" + current + "')");
                return MoEJob.REJECTED;
            }
            Publish.publish(t.modelTmp(), published, hadoop);
            if (withdrawn.remove(version)) pub.writeWithdrawn(withdrawn);
            Publish.replaceFile(latest, version + "\n", hadoop);
            out.println("published " + published + "; LATEST -> " + version + (current.compareTo(version) > 0
                    ? " (back from " + current + ": retrain.force=true)" : ""));
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
