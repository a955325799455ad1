package org.sparkmoe.job;

import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.RunLock;
import org.sparkmoe.engine.checkpoint.WriteFailedException;
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

    /**
     * What a command's configuration needs that no data, filesystem or Spark can change: its
     * required keys and the rules between keys. Run before Spark starts, so such errors come in
     * well under a second.
     */
    static void checkBeforeSpark(String cmd, JobConfig cfg) {
        switch (cmd) {
            case "train" -> cfg.required("output.dir", "for train (the run's output directory)");
            case "evaluate", "inspect" -> cfg.required("job.model", "(the model directory or a train output.dir)");
            case "score" -> {
                cfg.required("job.model", "(the model directory or a train output.dir)");
                cfg.required("score.output", "for score (the parquet output path)");
            }
            case "retrain" -> {
                cfg.required("retrain.root", "for retrain (the publish root)");
                cfg.required("retrain.date", "for retrain (the run date)");
            }
            case "rollback" -> {
                cfg.required("retrain.root", "for rollback (the publish root)");
                cfg.required("rollback.to", "for rollback (the published version LATEST should name, e.g. v-2026-11-26)");
            }
            default -> throw new IllegalArgumentException(cmd);
        }
        if (cmd.equals("train") || cmd.equals("retrain")) {
            if (!cfg.string("heldout.path").isEmpty() && cfg.string("input.path").isEmpty()) {
                throw new JobConfig.ConfigException("config key 'heldout.path' = '" + cfg.string("heldout.path")
                        + "' needs input.path (the built-in data has its own held-out split)");
            }
            if (cfg.task() == JobConfig.TaskKind.CLASSIFICATION && cfg.string("input.path").isEmpty()) {
                throw new JobConfig.ConfigException("config key 'input.path' must be set for task=classification "
                        + "(there is no built-in classification data)");
            }
        }
    }

    /**
     * Locks {@code dir} (config key {@code key}) for this run: a directory that is a file or cannot
     * be created or written is bad configuration (exit 2); one held by a live run is
     * {@link RunLock.LockedException} (exit 4). A stale lock is cleared, with a warning.
     */
    RunLock lock(Path dir, String key, String cmd) throws IOException {
        FileSystem fs = dir.getFileSystem(hadoop);
        String what = "config key '" + key + "' = " + dir;
        try {
            if (fs.exists(dir) && !fs.getFileStatus(dir).isDirectory()) {
                throw new JobConfig.ConfigException(what + " is a file, not a directory; choose a directory path");
            }
            RunLock lock = RunLock.acquire(dir, cmd, key + " " + dir, hadoop);
            lock.staleNote().ifPresent(n -> out.println("warning: " + n));
            return lock;
        } catch (RunLock.LockedException e) {
            throw e;
        } catch (WriteFailedException e) {
            if (e.outOfSpace()) throw e;
            throw new JobConfig.ConfigException(what + " is not usable: " + e.getMessage());
        } catch (IOException e) {
            throw new JobConfig.ConfigException(what + " is not usable: " + e.getMessage());
        }
    }

    /** A write that names its target when it fails (a full disk included, which Hadoop's local filesystem throws as an Error). */
    interface Write {
        void run() throws IOException;
    }

    static void writing(Path target, Write w) throws IOException {
        try {
            w.run();
        } catch (WriteFailedException e) {
            throw e;
        } catch (IOException | FSError e) {
            throw WriteFailedException.of(target.toString(), e);
        }
    }

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

    /** job.model: a job model directory (or a train output.dir), or a model saved by the ML API; a feed-forward model. */
    Loaded loadModel(JobConfig cfg) throws IOException {
        String m = cfg.required("job.model", "(the model directory or a train output.dir)");
        Optional<ModelDirectory.Loaded> l = ModelDirectory.load(m, hadoop, SparkSession.builder().getOrCreate());
        if (l.isEmpty()) throw new JobData.InputException("config key 'job.model': no model at " + m + " (no " + ModelDirectory.SPEC + ")");
        return new Loaded(l.get().dir(), l.get().spec(), l.get().state());
    }

    /** job.model's recurrent language model, read back; empty when job.model is a feed-forward model. */
    Optional<RecurrentLm.Saved> recurrentModel(JobConfig cfg) throws IOException {
        String m = cfg.required("job.model", "(the model directory or a train output.dir)");
        Optional<ModelDirectory.Saved> s = ModelDirectory.find(m, SparkSession.builder().getOrCreate());
        if (s.isEmpty() || !s.get().spec().isRecurrent()) return Optional.empty();
        return Optional.of(RecurrentLm.read(s.get(), hadoop));
    }

    /**
     * The documents evaluate and score read for a saved recurrent model, as its held-out side: every
     * document of heldout.path when set, else of input.path when set, else the held-out split of the
     * built-in data the model was trained on; the model's vocabulary.
     */
    RecurrentLm.Documents recurrentData(JobConfig cfg, RecurrentLm.Saved model) {
        JobConfig c = forModel(cfg, model.spec());
        String path = !c.string("heldout.path").isEmpty() ? c.string("heldout.path") : c.string("input.path");
        if (!path.isEmpty()) c = c.with(Map.of("input.path", path, "heldout.path", path));
        return RecurrentLm.load(sc, c, model.vocabulary());
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
