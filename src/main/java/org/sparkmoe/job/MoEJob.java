package org.sparkmoe.job;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.Publish;
import org.sparkmoe.app.RunListeners;
import org.sparkmoe.app.TrainingLoop;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.SparkMoETrainer;
import org.sparkmoe.engine.StepReport;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.metrics.MetricsLog;
import org.sparkmoe.engine.metrics.StepMetrics;

import com.fasterxml.jackson.databind.JsonNode;

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

    private final JavaSparkContext sc;
    private final PrintStream out;
    private final Configuration hadoop;

    private MoEJob(JavaSparkContext sc, PrintStream out) {
        this.sc = sc;
        this.out = out;
        this.hadoop = sc.hadoopConfiguration();
    }

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
        MoEJob job = new MoEJob(sc, out);
        String cmd = args[0];
        try {
            JobConfig cfg = JobConfig.fromArgs(Arrays.asList(args).subList(1, args.length));
            for (String d : cfg.deprecations()) out.println("warning: " + d);
            return switch (cmd) {
                case "train" -> job.train(cfg);
                case "evaluate" -> job.evaluate(cfg);
                case "score" -> job.score(cfg);
                case "inspect" -> job.inspect(cfg);
                case "retrain" -> job.retrain(cfg);
                default -> BAD_INPUT;
            };
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

    // ================================================================== train

    /** What a training run produced (its model is built in {@code modelTmp}, not yet published). */
    private record Trained(ModelDirectory.Spec spec, Path modelTmp, Map<String, Object> summary, Evaluator.Result eval) {
    }

    private int train(JobConfig cfg) throws IOException {
        Path output = new Path(cfg.required("output.dir", "for train (the run's output directory)"));
        JobData data = JobData.load(sc, cfg, null);
        ModelDirectory.Spec spec = spec(cfg, data, null);
        checkSameModel(output, spec);
        Trained t = trainAndBuild(cfg, data, spec, output, null);
        Path model = new Path(output, "model");
        Publish.publish(t.modelTmp(), model, hadoop);
        Publish.replaceFile(new Path(output, ModelDirectory.SUMMARY), json(t.summary()), hadoop);
        out.println("model published at " + model);
        out.println("summary: " + json(t.summary()));
        return OK;
    }

    private ModelDirectory.Spec spec(JobConfig cfg, JobData data, ModelDirectory.Spec previous) {
        NetworkSpec net = cfg.networkSpec(data.vocabulary, data.inputDim, data.outputs);
        Map<String, String> prov = new LinkedHashMap<>();
        prov.put("createdBy", "spark-moe MoEJob");
        prov.put("input.path", cfg.string("input.path"));
        prov.put("input.format", cfg.string("input.format"));
        prov.put("optim.maxSteps", cfg.string("optim.maxSteps"));
        prov.put("optim.seed", cfg.string("optim.seed"));
        prov.put("optim.stepSize", cfg.string("optim.stepSize"));
        prov.put("engine.batchSize", cfg.string("engine.batchSize"));
        prov.put("engine.precision", cfg.string("engine.precision"));
        if (previous != null && previous.provenance().containsKey("version")) prov.put("warmStartFrom", previous.provenance().get("version"));
        return new ModelDirectory.Spec(net, data.metadata, prov);
    }

    /**
     * The documented rule: an output directory whose model (or unfinished run) has a different
     * network spec is an error, and nothing there is touched; the same spec resumes from its checkpoints.
     */
    private void checkSameModel(Path output, ModelDirectory.Spec spec) throws IOException {
        FileSystem fs = output.getFileSystem(hadoop);
        List<Path> specs = new ArrayList<>();
        specs.add(new Path(new Path(output, "model"), ModelDirectory.SPEC));
        specs.add(new Path(output, "run-" + ModelDirectory.SPEC));
        for (Path p : specs) {
            if (!fs.exists(p)) continue;
            ModelDirectory.Spec old = ModelDirectory.Spec.parse(Publish.readText(p, hadoop), p.toString());
            if (!old.network().equals(spec.network())) {
                throw new JobConfig.ConfigException("output path " + output + " already holds a different model (" + p + "): "
                        + difference(old.network(), spec.network()) + "; choose another output.dir or delete it");
            }
        }
        if (!fs.exists(output)) fs.mkdirs(output);
        Path runSpec = new Path(output, "run-" + ModelDirectory.SPEC);
        if (!fs.exists(runSpec)) Publish.replaceFile(runSpec, spec.toJson(), hadoop);
    }

    static String difference(NetworkSpec a, NetworkSpec b) {
        List<String> d = new ArrayList<>();
        Map<String, String> ma = a.toMap(), mb = b.toMap();
        for (String k : ma.keySet()) if (!ma.get(k).equals(mb.get(k))) d.add(k + " " + ma.get(k) + " there, " + mb.get(k) + " now");
        return String.join(", ", d);
    }

    /** Trains in {@code runDir} (checkpoints, metrics), evaluates, and builds the model in a temp sibling of runDir/model. */
    private Trained trainAndBuild(JobConfig cfg, JobData data, ModelDirectory.Spec spec, Path runDir, TrainingState warm)
            throws IOException {
        long wallStart = System.nanoTime();
        MoENetwork network = spec.network().build();
        EngineConfig ec = cfg.engineConfig();
        long target = cfg.longValue("optim.maxSteps") + (warm == null ? 0 : warm.step());
        Path metricsPath = new Path(runDir, ModelDirectory.METRICS);
        Path loadPath = new Path(runDir, "expert-load.csv");
        sc.setJobGroup("spark-moe-train", "spark-moe train: " + spec.network().task() + ", " + spec.network().numExperts()
                + " experts, " + target + " steps", false);
        RunListeners.BalanceHistory balance = new RunListeners.BalanceHistory(loadPath, hadoop);
        TrainingLoop.Options options = new TrainingLoop.Options(target, new Path(runDir, "checkpoints").toString(),
                cfg.integer("checkpoint.interval"), cfg.integer("checkpoint.keep"), metricsPath.toString(), spec.provenance());
        TrainingLoop.Result run = TrainingLoop.run(sc, network, ec, data.train, options, warm == null ? null : TrainingLoop.WarmStart.of(warm),
                List.of(RunListeners.progress(out, cfg.integer("progress.interval")),
                        RunListeners.failOnDivergence("lower optim.stepSize or set optim.clipNorm"), balance));
        List<StepReport> reports = run.reports();
        TrainingState finalState;
        try {
            finalState = run.trainer().snapshot();
        } finally {
            run.trainer().close();
        }
        double trainSeconds = (System.nanoTime() - wallStart) / 1e9;

        sc.setJobGroup("spark-moe-evaluate", "spark-moe: held-out evaluation", false);
        Evaluator.Result eval = Evaluator.evaluate(sc, spec.network(), finalState.params(), data.heldout, data.corpus);
        List<StepMetrics> all = MetricsLog.read(metricsPath.toString(), hadoop);
        Map<String, Object> summary = summary(cfg, spec, network, data, finalState, all, reports, eval, trainSeconds);
        summary.put("wallSeconds", (System.nanoTime() - wallStart) / 1e9);

        Path modelTmp = Publish.tempSibling(new Path(runDir, "model"), hadoop);
        try {
            ModelDirectory.writeModel(modelTmp, spec, finalState, ec.expertShards(), data.vocab, hadoop);
            Publish.writeText(new Path(modelTmp, ModelDirectory.SUMMARY), json(summary), hadoop);
            FileSystem fs = modelTmp.getFileSystem(hadoop);
            org.apache.hadoop.fs.FileUtil.copy(fs, metricsPath, fs, new Path(modelTmp, ModelDirectory.METRICS), false, hadoop);
            if (cfg.bool("charts.enabled")) {
                Path charts = new Path(modelTmp, ModelDirectory.CHARTS);
                fs.mkdirs(charts);
                double floor = data.corpus == null ? Double.NaN : data.corpus.exampleFloorNats();
                Charts.loss(all, floor, new Path(charts, Charts.LOSS), hadoop);
                Charts.expertLoad(balance.rows(), network.numExperts(), new Path(charts, Charts.EXPERT_LOAD), hadoop);
            }
        } catch (IOException | RuntimeException e) {
            modelTmp.getFileSystem(hadoop).delete(modelTmp, true);
            throw e;
        }
        return new Trained(spec, modelTmp, summary, eval);
    }

    private Map<String, Object> summary(JobConfig cfg, ModelDirectory.Spec spec, MoENetwork network, JobData data,
                                        TrainingState state, List<StepMetrics> all, List<StepReport> reports,
                                        Evaluator.Result eval, double trainSeconds) {
        Map<String, Object> s = new LinkedHashMap<>();
        NetworkSpec ns = spec.network();
        s.put("task", cfg.string("task"));
        s.put("steps", state.step());
        s.put("stepsThisRun", reports.size());
        StepMetrics last = all.isEmpty() ? null : all.get(all.size() - 1);
        s.put("finalTrainLoss", last == null ? Double.NaN : last.taskLoss());
        s.put("heldout", eval.toMap(ns.task()));
        // the paper's balance columns, averaged over the last (up to) 10 training steps
        int from = Math.max(0, all.size() - 10);
        double cvi = 0, cvl = 0, mm = 0;
        int cnt = 0;
        for (StepMetrics m : all.subList(from, all.size())) {
            cvi += m.cvImportance();
            cvl += m.cvLoad();
            mm += m.maxOverMeanLoad();
            cnt++;
        }
        s.put("cvImportance", cnt == 0 ? Double.NaN : cvi / cnt);
        s.put("cvLoad", cnt == 0 ? Double.NaN : cvl / cnt);
        s.put("maxOverMeanLoad", cnt == 0 ? Double.NaN : mm / cnt);
        s.put("balanceColumnsOver", "mean of the last " + cnt + " training steps");
        double maxShare = 0;
        for (double v : eval.expertShare()) maxShare = Math.max(maxShare, v);
        s.put("heldoutTop1MaxOverMeanShare", maxShare * eval.expertShare().length);
        long examples = 0;
        double secs = 0;
        for (StepReport r : reports) {
            examples += r.examples();
            secs += r.seconds();
        }
        s.put("tokensPerSecond", secs > 0 ? examples / secs : Double.NaN);
        s.put("trainSeconds", trainSeconds);
        long shared = network.sharedLayout().size();
        long expert = network.moe().expert().layout().size();
        s.put("parametersTotal", shared + expert * ns.numExperts());
        s.put("parametersActivePerExample", shared + expert * ns.activeExperts());
        s.put("parametersShared", shared);
        s.put("parametersPerExpert", expert);
        s.put("experts", ns.numExperts());
        s.put("activeExperts", ns.activeExperts());
        if (data.corpus != null) {
            double floorNats = data.corpus.exampleFloorNats();
            s.put("entropyRateNats", data.corpus.entropyRateNats());
            s.put("floorNatsPerExample", floorNats);
            s.put("perplexityFloor", Math.exp(floorNats));
            s.put("gapToFloorNats", eval.logLoss() - floorNats);
            s.put("perplexityOverFloor", eval.perplexity() / Math.exp(floorNats));
            s.put("specialisationNmi", eval.specialisationNmi());
        }
        return s;
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

    // ================================================================== evaluate / score / inspect

    private record Loaded(Path dir, ModelDirectory.Spec spec, TrainingState state) {
    }

    private Loaded loadModel(JobConfig cfg) throws IOException {
        String m = cfg.required("job.model", "(the model directory or a train output.dir)");
        Optional<Path> dir = ModelDirectory.locate(m, hadoop);
        if (dir.isEmpty()) throw new JobData.InputException("config key 'job.model': no model at " + m + " (no " + ModelDirectory.SPEC + ")");
        ModelDirectory.Spec spec = ModelDirectory.readSpec(dir.get(), hadoop);
        return new Loaded(dir.get(), spec, ModelDirectory.readState(dir.get(), spec, hadoop));
    }

    /** The data configuration for a saved model: its task, and the built-in data it was trained on unless an input is given. */
    private JobConfig forModel(JobConfig cfg, ModelDirectory.Spec spec) {
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
    private JobData dataFor(JobConfig cfg, Loaded model) {
        JobConfig c = forModel(cfg, model.spec());
        String path = !c.string("heldout.path").isEmpty() ? c.string("heldout.path") : c.string("input.path");
        if (path.isEmpty()) return JobData.load(sc, c, model.spec(), model.dir());
        // everything in `path` on the held-out side: read it as the held-out file of itself
        JobConfig all = c.with(Map.of("input.path", path, "heldout.path", path));
        return JobData.load(sc, all, model.spec(), model.dir());
    }

    private int evaluate(JobConfig cfg) throws IOException {
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
        return OK;
    }

    private int score(JobConfig cfg) throws IOException {
        Path target = new Path(cfg.required("score.output", "for score (the parquet output path)"));
        Loaded model = loadModel(cfg);
        JobData data = dataFor(cfg, model);
        NetworkSpec ns = model.spec().network();
        boolean experts = cfg.bool("score.experts");
        List<StructField> fields = new ArrayList<>();
        fields.add(DataTypes.createStructField("id", DataTypes.LongType, false));
        if (ns.task() == NetworkSpec.Task.REGRESSION) {
            fields.add(DataTypes.createStructField("prediction", DataTypes.createArrayType(DataTypes.DoubleType, false), false));
        } else {
            fields.add(DataTypes.createStructField("prediction", DataTypes.IntegerType, false));
            fields.add(DataTypes.createStructField("probability", DataTypes.DoubleType, false));
            fields.add(DataTypes.createStructField("label", DataTypes.IntegerType, false));
            if (ns.task() == NetworkSpec.Task.CLASSIFICATION) {
                fields.add(DataTypes.createStructField("probabilities", DataTypes.createArrayType(DataTypes.DoubleType, false), false));
            }
        }
        if (experts) {
            DataType ints = DataTypes.createArrayType(DataTypes.IntegerType, false);
            fields.add(DataTypes.createStructField("experts", ints, false));
            fields.add(DataTypes.createStructField("gates", DataTypes.createArrayType(DataTypes.DoubleType, false), false));
        }
        StructType schema = DataTypes.createStructType(fields);
        JavaRDD<RowBlock> rows = data.heldout;
        Broadcast<ModelParameters> pb = sc.broadcast(model.state().params());
        sc.setJobGroup("spark-moe-score", "spark-moe: score " + model.dir() + " to " + target, false);
        try {
            JavaRDD<Row> scored = Evaluator.score(sc, ns, model.state().params(), rows, experts, pb);
            SparkSession spark = SparkSession.builder().getOrCreate();
            Publish.write(target, hadoop, tmp -> spark.createDataFrame(scored, schema).write().parquet(tmp.toString()));
        } finally {
            pb.destroy(false);
        }
        out.println("scores written to " + target);
        return OK;
    }

    private int inspect(JobConfig cfg) throws IOException {
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
        return OK;
    }

    // ================================================================== retrain

    private int retrain(JobConfig cfg) throws IOException {
        Path root = new Path(cfg.required("retrain.root", "for retrain (the publish root)"));
        String date = cfg.required("retrain.date", "for retrain (the run date)");
        String version = "v-" + date;
        Path published = new Path(root, version);
        Path latest = new Path(root, LATEST);
        FileSystem fs = root.getFileSystem(hadoop);
        String current = fs.exists(latest) ? Publish.readText(latest, hadoop).trim() : "";
        if (fs.exists(new Path(published, ModelDirectory.SPEC))) {
            if (current.isEmpty() || current.compareTo(version) < 0) {
                Publish.replaceFile(latest, version + "\n", hadoop);
                out.println(version + " was published but LATEST pointed to '" + current + "'; LATEST now points to " + version);
            }
            out.println(version + " is already published at " + published + "; nothing to do");
            return OK;
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
                return REJECTED;
            }
            Publish.publish(t.modelTmp(), published, hadoop);
            Publish.replaceFile(latest, version + "\n", hadoop);
            out.println("published " + published + "; LATEST -> " + version);
            out.println("summary: " + json(t.summary()));
            return OK;
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

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
