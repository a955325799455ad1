package org.sparkmoe.job;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * The spark-submit entry point: {@code MoEJob train|evaluate|score|inspect|retrain [key=value ...]}.
 * Exit codes: 0 ok (retrain: published or already published), 1 failure, 2 bad input or
 * configuration, 3 (retrain) rejected by the evaluation bar. {@link #run(JavaSparkContext, PrintStream,
 * String...)} returns the exit code instead of exiting (tests, embedding).
 */
public final class MoEJob {
    public static final int OK = 0, FAILED = 1, BAD_INPUT = 2, REJECTED = 3;
    public static final String LATEST = "LATEST";

    static final String USAGE = String.join("\n",
            "usage: MoEJob <command> [--config FILE] [key=value | --conf key=value ...]",
            "commands:",
            "  train     train on the configured data (default: the built-in corpus), write output.dir/model",
            "  evaluate  evaluate job.model on held-out data; print and write the metrics as JSON",
            "  score     batch prediction of job.model to parquet at score.output",
            "  inspect   print job.model's spec, parameter counts and balance statistics",
            "  retrain   warm-start from retrain.root/LATEST, train, evaluate, publish retrain.root/v-<retrain.date> if it passes",
            "keys and defaults: conf/moe-job.properties",
            "exit codes: 0 ok, 1 failure, 2 bad input/config, 3 rejected by the evaluation bar (retrain)");

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command on the active Spark session (created, local[*] unless a master is set, if there is none). */
    public static int run(String... args) {
        if (args.length == 0 || !isCommand(args[0])) {
            System.err.println(args.length == 0 ? "no command given" : "unknown command '" + args[0] + "'");
            System.err.println(USAGE);
            return BAD_INPUT;
        }
        SparkConf conf = new SparkConf();
        if (!conf.contains("spark.master")) conf.setMaster("local[*]");
        conf.setIfMissing("spark.app.name", "spark-moe " + args[0]);
        System.setProperty("java.awt.headless", "true");
        SparkSession spark = SparkSession.builder().config(conf).getOrCreate();
        return run(JavaSparkContext.fromSparkContext(spark.sparkContext()), System.out, args);
    }

    /** Runs a command on {@code sc}, printing to {@code out}; returns the exit code. */
    public static int run(JavaSparkContext sc, PrintStream out, String... args) {
        if (args.length == 0 || !isCommand(args[0])) {
            out.println(args.length == 0 ? "no command given" : "unknown command '" + args[0] + "'");
            out.println(USAGE);
            return BAD_INPUT;
        }
        String cmd = args[0];
        try {
            JobConfig cfg = JobConfig.fromArgs(Arrays.asList(args).subList(1, args.length));
            for (String d : cfg.deprecations()) out.println("warning: " + d);
            Command command = switch (cmd) {
                case "train" -> new TrainCommand(sc, out);
                case "evaluate" -> new EvaluateCommand(sc, out);
                case "score" -> new ScoreCommand(sc, out);
                case "inspect" -> new InspectCommand(sc, out);
                default -> new RetrainCommand(sc, out);
            };
            return command.run(cfg);
        } catch (JobConfig.ConfigException | JobData.InputException e) {
            out.println("error: " + e.getMessage());
            return BAD_INPUT;
        } catch (Exception e) {
            out.println("error: " + cmd + " failed: " + e);
            e.printStackTrace(out);
            return FAILED;
        } finally {
            sc.clearJobGroup();
        }
    }

    private static boolean isCommand(String s) {
        return List.of("train", "evaluate", "score", "inspect", "retrain").contains(s);
    }
}
