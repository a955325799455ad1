package org.sparkmoe.job;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.apache.hadoop.fs.FSError;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.sparkmoe.app.RunLock;
import org.sparkmoe.data.FeatureDataException;
import org.sparkmoe.data.TextDataException;
import org.sparkmoe.engine.checkpoint.CorruptCheckpointException;
import org.sparkmoe.engine.checkpoint.WriteFailedException;

/**
 * The spark-submit entry point: {@code MoEJob train|evaluate|score|inspect|retrain|rollback [key=value ...]}.
 * Exit codes: 0 ok (retrain: published or already published), 1 failure (a rerun may succeed: it
 * resumes), 2 bad input, configuration or model (a rerun fails the same way until it is fixed),
 * 3 (retrain) rejected by the evaluation bar, 4 another run holds the directory's lock.
 * The configuration is validated before Spark starts. {@link #run(JavaSparkContext, PrintStream,
 * String...)} returns the exit code instead of exiting (tests, embedding).
 */
public final class MoEJob {
    public static final int OK = 0, FAILED = 1, BAD_INPUT = 2, REJECTED = 3, LOCKED = 4;
    public static final String LATEST = "LATEST";

    static final String USAGE = String.join("\n",
            "usage: MoEJob <command> [--config FILE] [key=value | --conf key=value ...]",
            "commands:",
            "  train     train on the configured data (default: the built-in corpus), write output.dir/model",
            "  evaluate  evaluate job.model on held-out data; print and write the metrics as JSON",
            "  score     batch prediction of job.model to parquet at score.output",
            "  inspect   print job.model's spec, parameter counts and balance statistics",
            "  retrain   warm-start from retrain.root/LATEST, train, evaluate, publish retrain.root/v-<retrain.date> if it passes",
            "  rollback  point retrain.root/LATEST back at the published version rollback.to",
            "keys and defaults: conf/moe-job.properties",
            "exit codes: 0 ok, 1 failure, 2 bad input/config/model, 3 rejected by the evaluation bar (retrain),"
                    + " 4 output.dir or retrain.root locked by another run");

    /**
     * A training step's task results carry the partition's gradients (with local routing, those of
     * every expert it routed rows to: an LM partition at n = 32, d = 64, h = 128 returns 4 MB).
     * Spark sends a result over its 1 MB default through the block manager, which the driver then
     * fetches (in local mode over a loopback connection to itself), copying it again on the way; on
     * the LM comparison that was the largest part of what the MoE's step adds beyond its task CPU
     * (BENCHMARKS.md, "Session-7 MoE vs dense"). Up to this size results travel in the task's status
     * update instead (Spark caps it at {@code spark.rpc.message.maxSize}, 128 MB); a user's setting wins.
     */
    static final String DIRECT_RESULT_SIZE_KEY = "spark.task.maxDirectResultSize";
    static final String DIRECT_RESULT_SIZE = "16m";

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * Runs a command on the active Spark session (created, local[*] unless a master is set, if
     * there is none), after validating the configuration without it.
     */
    public static int run(String... args) {
        return run(() -> {
            SparkConf conf = new SparkConf();
            if (!conf.contains("spark.master")) conf.setMaster("local[*]");
            conf.setIfMissing("spark.app.name", "spark-moe " + args[0]);
            // the engine truncates lineage with RDD checkpoints every few steps; without this they pile up
            conf.setIfMissing("spark.cleaner.referenceTracking.cleanCheckpoints", "true");
            conf.setIfMissing(DIRECT_RESULT_SIZE_KEY, DIRECT_RESULT_SIZE);
            System.setProperty("java.awt.headless", "true");
            SparkSession spark = SparkSession.builder().config(conf).getOrCreate();
            return JavaSparkContext.fromSparkContext(spark.sparkContext());
        }, System.out, args);
    }

    /** Runs a command on {@code sc}, printing to {@code out}; returns the exit code. */
    public static int run(JavaSparkContext sc, PrintStream out, String... args) {
        return run(() -> sc, out, args);
    }

    /**
     * Runs a command, printing to {@code out}; {@code spark} is asked for the Spark context only
     * once everything that needs no data has been validated.
     */
    static int run(Supplier<JavaSparkContext> spark, PrintStream out, String... args) {
        if (args.length == 0 || !isCommand(args[0])) {
            out.println(args.length == 0 ? "no command given" : "unknown command '" + args[0] + "'");
            out.println(USAGE);
            return BAD_INPUT;
        }
        String cmd = args[0];
        JobConfig cfg;
        try {
            cfg = JobConfig.fromArgs(Arrays.asList(args).subList(1, args.length));
            for (String d : cfg.deprecations()) out.println("warning: " + d);
            Command.checkBeforeSpark(cmd, cfg);
        } catch (JobConfig.ConfigException | JobData.InputException e) {
            out.println("error: " + e.getMessage());
            return BAD_INPUT;
        }
        JavaSparkContext sc = spark.get();
        try {
            Command command = switch (cmd) {
                case "train" -> new TrainCommand(sc, out);
                case "evaluate" -> new EvaluateCommand(sc, out);
                case "score" -> new ScoreCommand(sc, out);
                case "inspect" -> new InspectCommand(sc, out);
                case "rollback" -> new RollbackCommand(sc, out);
                default -> new RetrainCommand(sc, out);
            };
            return command.run(cfg);
        } catch (Exception | FSError e) {
            return failed(cmd, e, out);
        } finally {
            sc.clearJobGroup();
        }
    }

    /**
     * The exit code of a failure, and its message: the first known cause (also inside a
     * SparkException) in one line; an unexpected failure with its stack trace.
     */
    static int failed(String cmd, Throwable e, PrintStream out) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof RunLock.LockedException) {
                out.println("error: " + c.getMessage());
                return LOCKED;
            }
            if (c instanceof JobConfig.ConfigException || c instanceof JobData.InputException || c instanceof FeatureDataException
                    || c instanceof TextDataException || c instanceof CorruptCheckpointException) {
                out.println("error: " + c.getMessage());
                return BAD_INPUT;
            }
            if (c instanceof WriteFailedException) {
                out.println("error: " + cmd + " failed: " + c.getMessage());
                return FAILED;
            }
            if (c instanceof FSError) {
                out.println("error: " + cmd + " failed: a filesystem write failed: " + c.getMessage()
                        + (WriteFailedException.of("?", c).outOfSpace() ? " (the disk is full: free space and rerun)" : ""));
                return FAILED;
            }
        }
        String memory = outOfMemory(e);
        if (memory != null) {
            out.println("error: " + cmd + " failed: " + memory + ". An executor (or, in local mode, the driver) needs more memory"
                    + " for this model and batch: raise spark.executor.memory (local mode: spark.driver.memory) to what BENCHMARKS.md,"
                    + " \"Memory: sizing an executor\", gives for engine.batchSize, model.numExperts and engine.expertShards, or lower"
                    + " engine.batchSize, or raise engine.expertShards over more executors");
            return FAILED;
        }
        out.println("error: " + cmd + " failed: " + e);
        e.printStackTrace(out);
        return FAILED;
    }

    /**
     * What says that a failure was a JVM running out of memory, or null: an OutOfMemoryError in the
     * cause chain (the driver's, or a task's as Spark reports it), or an executor that died of one
     * (Spark's executors exit with code 52 on an OutOfMemoryError, which the driver only sees as
     * "ExecutorLostFailure ... exited with code 52" after the task's retries).
     */
    static String outOfMemory(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof OutOfMemoryError) return "out of memory (" + c.getMessage() + ")";
            String m = String.valueOf(c.getMessage());
            if (m.contains("java.lang.OutOfMemoryError")) return "a task ran out of memory (java.lang.OutOfMemoryError)";
            if (m.contains("ExecutorLostFailure") && m.contains("exited with code 52")) {
                return "an executor ran out of memory (ExecutorLostFailure: exit code 52, Spark's code for an OutOfMemoryError)";
            }
        }
        return null;
    }

    private static boolean isCommand(String s) {
        return List.of("train", "evaluate", "score", "inspect", "retrain", "rollback").contains(s);
    }
}
