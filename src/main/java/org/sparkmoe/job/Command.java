package org.sparkmoe.job;

import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.core.train.TrainingState;

/** One subcommand of {@link MoEJob}, with what the commands share: reading job.model and its data, JSON output. */
abstract class Command {
    final JavaSparkContext sc;
    final PrintStream out;
    final Configuration hadoop;

    Command(JavaSparkContext sc, PrintStream out) {
        this.sc = sc;
        this.out = out;
        this.hadoop = sc.hadoopConfiguration();
    }

    /** Runs the command; returns the exit code ({@link MoEJob#OK}, ...). */
    abstract int run(JobConfig cfg) throws IOException;

    static String json(Object o) {
        try {
            return ModelDirectory.JSON.writeValueAsString(sanitize(o));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object sanitize(Object o) {
        if (o instanceof Double d && !Double.isFinite(d)) return null;
        if (o instanceof Map<?, ?> m) {
            Map<Object, Object> c = new LinkedHashMap<>();
            m.forEach((k, v) -> c.put(k, sanitize(v)));
            return c;
        }
        return o;
    }

    record Loaded(Path dir, ModelDirectory.Spec spec, TrainingState state) {
    }

    /** job.model: a job model directory (or a train output.dir), or a model saved by the ML API. */
    Loaded loadModel(JobConfig cfg) throws IOException {
        String m = cfg.required("job.model", "(the model directory or a train output.dir)");
        Optional<ModelDirectory.Loaded> l = ModelDirectory.load(m, hadoop, SparkSession.builder().getOrCreate());
        if (l.isEmpty()) throw new JobData.InputException("config key 'job.model': no model at " + m + " (no " + ModelDirectory.SPEC + ")");
        return new Loaded(l.get().dir(), l.get().spec(), l.get().state());
    }

    /** The data configuration for a saved model: its task, and the built-in data it was trained on unless an input is given. */
    JobConfig forModel(JobConfig cfg, ModelDirectory.Spec spec) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("task", switch (spec.network().task()) {
            case LANGUAGE_MODEL -> "lm";
            case CLASSIFICATION -> "classification";
            case REGRESSION -> "regression";
        });
        if (cfg.string("input.path").isEmpty()) {
            spec.data().forEach((k, v) -> {
                if (k.startsWith("synthetic.") || k.equals("heldout.fraction")) o.put(k, v);
            });
        }
        return cfg.with(o);
    }

    /**
     * The rows evaluate and score use, as their "heldout" side: every row of heldout.path when set,
     * else every row of input.path when set, else the held-out split of the built-in data the model
     * was trained on.
     */
    JobData dataFor(JobConfig cfg, Loaded model) {
        JobConfig c = forModel(cfg, model.spec());
        String path = !c.string("heldout.path").isEmpty() ? c.string("heldout.path") : c.string("input.path");
        if (path.isEmpty()) return JobData.load(sc, c, model.spec(), model.dir());
        // everything in `path` on the held-out side: read it as the held-out file of itself
        JobConfig all = c.with(Map.of("input.path", path, "heldout.path", path));
        return JobData.load(sc, all, model.spec(), model.dir());
    }
}
