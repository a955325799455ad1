package org.sparkmoe.job;

import org.apache.spark.api.java.JavaSparkContext;
import java.io.PrintStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Publish;
import org.sparkmoe.app.RunListeners;
import org.sparkmoe.app.RunLock;
import org.sparkmoe.app.TrainingLoop;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.BatchPlan;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.StepReport;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.metrics.MetricsLog;
import org.sparkmoe.engine.metrics.StepMetrics;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.engine.sequence.SequenceLayout;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

/** {@code train}: trains on the configured data, writes output.dir (checkpoints, metrics, summary) and publishes output.dir/model. */
class TrainCommand extends Command {
    TrainCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    /** What a training run produced (its model is built in {@code modelTmp}, not yet published). */
    record Trained(ModelDirectory.Spec spec, Path modelTmp, Map<String, Object> summary, Evaluator.Result eval) {
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Path output = new Path(cfg.required("output.dir", "for train (the run's output directory)"));
        try (RunLock lock = lock(output, "output.dir", "train")) {
            if (cfg.recurrent()) return trainRecurrent(cfg, output);
            JobData data = JobData.load(sc, cfg, null);
            for (String w : data.warnings) out.println("warning: " + w);
            ModelDirectory.Spec spec = spec(cfg, data, null);
            checkSameModel(output, spec);
            return publish(trainAndBuild(cfg, data, spec, output, null), output);
        }
    }

    /** Publishes a run's model at output.dir/model and its summary at output.dir/summary.json. */
    private int publish(Trained t, Path output) throws IOException {
        Path model = new Path(output, "model");
        Publish.publish(t.modelTmp(), model, hadoop);
        Publish.replaceFile(new Path(output, ModelDirectory.SUMMARY), json(t.summary()), hadoop);
        out.println("model published at " + model);
        out.println("summary: " + json(t.summary()));
        return MoEJob.OK;
    }

    ModelDirectory.Spec spec(JobConfig cfg, JobData data, ModelDirectory.Spec previous) {
        NetworkSpec net = cfg.networkSpec(data.vocabulary, data.inputDim, data.outputs);
        return new ModelDirectory.Spec(net, data.metadata, provenance(cfg, previous));
    }

    private static Map<String, String> provenance(JobConfig cfg, ModelDirectory.Spec previous) {
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
        return prov;
    }

    /**
     * The documented rule: an output directory whose model (or unfinished run) has a different
     * network spec is an error, and nothing there is touched; the same spec resumes from its checkpoints.
     * The unfinished run's spec ({@code run-spec.json}) counts only when it left a checkpoint: a run
     * that failed before its first one (bad data, a batch larger than the data) trained nothing to protect.
     */
    private void checkSameModel(Path output, ModelDirectory.Spec spec) throws IOException {
        FileSystem fs = output.getFileSystem(hadoop);
        Path runSpec = new Path(output, RUN_SPEC);
        if (fs.exists(runSpec) && new CheckpointStore(new Path(output, "checkpoints").toString(), hadoop, 1).latest().isEmpty()) {
            fs.delete(runSpec, false);
        }
        List<Path> specs = new ArrayList<>();
        specs.add(new Path(new Path(output, "model"), ModelDirectory.SPEC));
        specs.add(runSpec);
        for (Path p : specs) {
            if (!fs.exists(p)) continue;
            ModelDirectory.Spec old = ModelDirectory.Spec.parse(Publish.readText(p, hadoop), p.toString());
            String shape = RecurrentLm.shapeDifference(old, spec);
            if (!old.network().equals(spec.network()) || !shape.isEmpty()) {
                String diff = difference(old.network(), spec.network());
                throw new JobConfig.ConfigException("output path " + output + " already holds a different model (" + p + "): "
                        + (diff.isEmpty() ? shape : shape.isEmpty() ? diff : diff + ", " + shape)
                        + "; choose another output.dir or delete it");
            }
        }
    }

    static final String RUN_SPEC = "run-" + ModelDirectory.SPEC;

    /** Records the run's spec in its directory before the first step, so its checkpoints are never resumed by another model. */
    private TrainingLoop.Listener recordSpec(Path runDir, ModelDirectory.Spec spec, boolean[] started) {
        return new TrainingLoop.Listener() {
            @Override
            public void started(long firstStep, long targetStep) {
                started[0] = true;
                try {
                    Path runSpec = new Path(runDir, RUN_SPEC);
                    if (!runSpec.getFileSystem(hadoop).exists(runSpec)) Publish.replaceFile(runSpec, spec.toJson(), hadoop);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
    }

    /**
     * Where Spark's RDD checkpoints of this run go when the user set no spark.checkpoint.dir: under
     * the run's directory, when every executor reaches it (a local master, or a non-local filesystem).
     * Without a reliable directory the engine checkpoints on the executors, and losing one fails the run.
     */
    private Path defaultSparkCheckpoints(Path runDir) throws IOException {
        if (sc.sc().getCheckpointDir().isDefined()) return null;
        boolean localMaster = sc.master().startsWith("local");
        if (!localMaster && "file".equals(runDir.getFileSystem(hadoop).getUri().getScheme())) return null;
        Path dir = new Path(runDir, SPARK_CHECKPOINTS);
        dir.getFileSystem(hadoop).delete(dir, true); // a dead run's: never read again (we hold the lock)
        sc.setCheckpointDir(dir.toString());
        return dir;
    }

    static final String SPARK_CHECKPOINTS = "spark-checkpoints";

    /** Says what a data-sized batch ({@code engine.batchSize} = 0) came to, before the first step. */
    private TrainingLoop.Listener batchNote(EngineConfig ec) {
        return new TrainingLoop.Listener() {
            @Override
            public void planned(BatchPlan plan) {
                if (ec.batchSize() == BatchPlan.DATA_SIZED) {
                    out.println("engine.batchSize data-sized: " + plan.batchSize() + " examples per step for " + plan.examples()
                            + " training examples");
                }
            }
        };
    }

    static String difference(NetworkSpec a, NetworkSpec b) {
        List<String> d = new ArrayList<>();
        Map<String, String> ma = a.toMap(), mb = b.toMap();
        for (String k : ma.keySet()) if (!ma.get(k).equals(mb.get(k))) d.add(k + " " + ma.get(k) + " there, " + mb.get(k) + " now");
        return String.join(", ", d);
    }

    /** Trains in {@code runDir} (checkpoints, metrics), evaluates, and builds the model in a temp sibling of runDir/model. */
    Trained trainAndBuild(JobConfig cfg, JobData data, ModelDirectory.Spec spec, Path runDir, TrainingState warm)
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
        boolean[] started = {false};
        Path sparkCheckpoints = defaultSparkCheckpoints(runDir);
        List<StepReport> reports;
        TrainingState finalState;
        int batchSize;
        try {
            TrainingLoop.Result run;
            try {
                run = TrainingLoop.run(sc, network, ec, data.train, options, warm == null ? null : TrainingLoop.WarmStart.of(warm),
                        List.of(batchNote(ec), recordSpec(runDir, spec, started), RunListeners.progress(out, cfg.integer("progress.interval")),
                                RunListeners.failOnDivergence("lower optim.stepSize or set optim.clipNorm"), balance));
            } catch (java.io.UncheckedIOException e) {
                throw e.getCause();
            } catch (IllegalArgumentException e) {
                if (started[0]) throw e;
                // before the first step: the data and the configuration do not fit (BatchPlan: fewer examples than a batch)
                String m = String.valueOf(e.getMessage());
                throw new JobData.InputException("training cannot start: " + m + (!m.contains("batch") ? ""
                        : ec.batchSize() == BatchPlan.DATA_SIZED
                        ? " (config key 'engine.batchSize' = 0, data-sized: give a smaller batch, or more data)"
                        : " (config key 'engine.batchSize' = " + ec.batchSize() + ": lower it, or give more data)"), e);
            }
            reports = run.reports();
            batchSize = run.trainer().plan().batchSize();
            try {
                finalState = run.trainer().snapshot();
            } finally {
                run.trainer().close();
            }
        } finally {
            if (sparkCheckpoints != null) {
                sc.sc().setCheckpointDir(null);
                sparkCheckpoints.getFileSystem(hadoop).delete(sparkCheckpoints, true);
            }
        }
        double trainSeconds = (System.nanoTime() - wallStart) / 1e9;

        sc.setJobGroup("spark-moe-evaluate", "spark-moe: held-out evaluation", false);
        Evaluator.Result eval = Evaluator.evaluate(sc, spec.network(), finalState.params(), data.heldout, data.corpus);
        List<StepMetrics> all = MetricsLog.read(metricsPath.toString(), hadoop);
        Map<String, Object> summary = summary(cfg, spec, network, data, finalState, all, reports, eval, trainSeconds);
        if (!data.outOfVocabulary.isEmpty()) summary.put("outOfVocabularyRate", data.outOfVocabulary);
        summary.put("batchSize", batchSize);
        summary.put("wallSeconds", (System.nanoTime() - wallStart) / 1e9);

        Path modelTmp = Publish.tempSibling(new Path(runDir, "model"), hadoop);
        try {
            ModelDirectory.write(modelTmp, spec, finalState,
                    data.vocab == null ? null : p -> writing(p, () -> data.vocab.save(p.toString(), hadoop)),
                    org.apache.spark.sql.SparkSession.builder().getOrCreate());
            writeRunFiles(cfg, modelTmp, summary, metricsPath, all, data.corpus == null ? Double.NaN : data.corpus.exampleFloorNats(),
                    balance, network.numExperts());
        } catch (IOException | RuntimeException | org.apache.hadoop.fs.FSError e) {
            modelTmp.getFileSystem(hadoop).delete(modelTmp, true);
            throw e;
        }
        return new Trained(spec, modelTmp, summary, eval);
    }

    /**
     * train for a recurrent language model ({@code lm.model} lstm, moe-1-wide or lstm-moe): the
     * sequence engine ({@link SparkSequenceTrainer}) driven by the job's loop ({@link TrainingLoop#drive}:
     * checkpoints in output.dir/checkpoints with the LSTM state and stream positions, resume, metrics,
     * progress), then held-out perplexity, and the model published at output.dir/model.
     */
    private int trainRecurrent(JobConfig cfg, Path output) throws IOException {
        RecurrentLm.Documents docs = RecurrentLm.load(sc, cfg, null);
        ModelDirectory.Spec spec = recurrentSpec(cfg, docs, null);
        checkSameModel(output, spec);
        return publish(trainRecurrentAndBuild(cfg, docs, spec, output, null), output);
    }

    /** The spec of a recurrent run on {@code docs} ({@code previous}: the model it warm-starts from, or null). */
    ModelDirectory.Spec recurrentSpec(JobConfig cfg, RecurrentLm.Documents docs, ModelDirectory.Spec previous) {
        int v = docs.vocabulary().size();
        return new ModelDirectory.Spec(cfg.networkSpec(v, 0, v), docs.metadata(), provenance(cfg, previous), RecurrentLm.recurrentSpec(cfg));
    }

    /**
     * Trains a recurrent language model in {@code runDir} (checkpoints, metrics; resumes from the
     * latest checkpoint there, LSTM state and stream positions included), from {@code warm} (a
     * published model: optim.maxSteps more steps, fresh streams) when there is no checkpoint yet,
     * evaluates held-out perplexity and builds the model in a temp sibling of runDir/model.
     */
    Trained trainRecurrentAndBuild(JobConfig cfg, RecurrentLm.Documents docs, ModelDirectory.Spec spec, Path runDir, TrainingState warm)
            throws IOException {
        long wallStart = System.nanoTime();
        RecurrentLanguageModel model = spec.recurrentModel();
        int s = spec.recurrent().streams(), t = spec.recurrent().seqLength();
        if (docs.trainCount() < s) {
            throw new JobData.InputException("config key 'lm.streams' = " + s + " needs at least " + s + " training documents; the data"
                    + " has " + docs.trainCount() + " (lower lm.streams or give more documents)");
        }
        int partitions = cfg.integer("input.partitions") > 0 ? cfg.integer("input.partitions") : sc.defaultParallelism();
        SequenceLayout layout = new SequenceLayout(s, t, org.sparkmoe.data.Vocabulary.EOS_ID, 0, docs.trainCount(),
                Math.max(1, Math.min(partitions, s)));
        EngineConfig ec = spec.recurrent().engineConfig(cfg.engineConfig(), model);
        long target = cfg.longValue("optim.maxSteps") + (warm == null ? 0 : warm.step());
        Path metricsPath = new Path(runDir, ModelDirectory.METRICS);
        CheckpointStore store = new CheckpointStore(new Path(runDir, "checkpoints").toString(), hadoop, cfg.integer("checkpoint.keep"));
        TrainingLoop.Options options = new TrainingLoop.Options(target, store.dir(), cfg.integer("checkpoint.interval"),
                cfg.integer("checkpoint.keep"), metricsPath.toString(), spec.provenance());
        RunListeners.BalanceHistory balance = new RunListeners.BalanceHistory(new Path(runDir, "expert-load.csv"), hadoop);
        sc.setJobGroup("spark-moe-train", "spark-moe train: recurrent lm (" + RecurrentLm.kind(spec) + "), " + model.numExperts()
                + " experts, " + target + " steps", false);
        boolean[] started = {false};
        Path sparkCheckpoints = defaultSparkCheckpoints(runDir);
        List<StepReport> reports;
        TrainingState finalState;
        SparkSequenceTrainer.Evaluation eval;
        try (SparkSequenceTrainer trainer = warm != null && store.latest().isEmpty()
                ? SparkSequenceTrainer.warmStart(sc, model, ec, docs.train(), layout, warm)
                : SparkSequenceTrainer.resume(sc, model, ec, docs.train(), layout, store)) {
            TrainingLoop.Steps steps = TrainingLoop.Steps.of(trainer::stepsTaken, trainer::trainStep, trainer::checkpoint);
            try {
                reports = TrainingLoop.drive(steps, store, options, List.of(recordSpec(runDir, spec, started),
                        RunListeners.progress(out, cfg.integer("progress.interval")),
                        RunListeners.failOnDivergence("lower optim.stepSize or set optim.clipNorm"), balance), hadoop);
            } catch (java.io.UncheckedIOException e) {
                throw e.getCause();
            }
            sc.setJobGroup("spark-moe-evaluate", "spark-moe: held-out perplexity", false);
            eval = trainer.evaluate(docs.heldout(), s);
            finalState = trainer.snapshot();
        } finally {
            if (sparkCheckpoints != null) {
                sc.sc().setCheckpointDir(null);
                sparkCheckpoints.getFileSystem(hadoop).delete(sparkCheckpoints, true);
            }
        }
        List<StepMetrics> all = MetricsLog.read(metricsPath.toString(), hadoop);
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("task", "lm");
        summary.put("lm.model", RecurrentLm.kind(spec));
        summary.put("steps", finalState.step());
        summary.put("stepsThisRun", reports.size());
        summary.put("finalTrainLoss", all.isEmpty() ? Double.NaN : all.get(all.size() - 1).taskLoss());
        summary.put("heldout", recurrentEvaluation(eval));
        balanceColumns(summary, all);
        summary.put("tokensPerSecond", tokensPerSecond(reports));
        summary.putAll(recurrentSize(spec, model));
        summary.put("wallSeconds", (System.nanoTime() - wallStart) / 1e9);

        Path modelTmp = Publish.tempSibling(new Path(runDir, "model"), hadoop);
        try {
            ModelDirectory.write(modelTmp, spec, finalState, p -> writing(p, () -> docs.vocabulary().save(p.toString(), hadoop)),
                    org.apache.spark.sql.SparkSession.builder().getOrCreate());
            writeRunFiles(cfg, modelTmp, summary, metricsPath, all, Double.NaN, balance, model.numExperts());
        } catch (IOException | RuntimeException | org.apache.hadoop.fs.FSError e) {
            modelTmp.getFileSystem(hadoop).delete(modelTmp, true);
            throw e;
        }
        double logLoss = eval.tokens() == 0 ? Double.NaN : eval.lossSum() / eval.tokens();
        return new Trained(spec, modelTmp, summary,
                new Evaluator.Result(eval.tokens(), logLoss, eval.perplexity(), Double.NaN, Double.NaN, new double[0], Double.NaN));
    }

    /** A recurrent model's size: parameters in total and active per token, FLOPs per token, experts (train's summary, inspect). */
    static Map<String, Object> recurrentSize(ModelDirectory.Spec spec, RecurrentLanguageModel model) {
        Map<String, Object> m = new LinkedHashMap<>();
        long shared = model.sharedLayout().size();
        long expert = model.moe() == null ? 0 : model.moe().expert().layout().size();
        int active = RecurrentLm.activeExperts(spec);
        m.put("parametersTotal", shared + expert * model.numExperts());
        m.put("parametersActivePerToken", shared + expert * active);
        m.put("parametersShared", shared);
        m.put("parametersPerExpert", expert);
        m.put("forwardFlopsPerToken", model.forwardFlopsPerToken(active));
        m.put("experts", model.numExperts());
        m.put("activeExperts", active);
        return m;
    }

    /** Held-out perplexity of a recurrent model, as evaluate and the summary report it. */
    static Map<String, Object> recurrentEvaluation(SparkSequenceTrainer.Evaluation e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", e.tokens());
        m.put("logLoss", e.tokens() == 0 ? Double.NaN : e.lossSum() / e.tokens());
        m.put("perplexity", e.perplexity());
        return m;
    }

    /**
     * The run's files in the model being built: summary.json, a copy of metrics.jsonl and (charts.enabled)
     * the loss chart ({@code floorNats}: the corpus's floor, NaN = none) and, with experts, the expert-load chart.
     */
    private void writeRunFiles(JobConfig cfg, Path modelTmp, Map<String, Object> summary, Path metricsPath, List<StepMetrics> all,
                               double floorNats, RunListeners.BalanceHistory balance, int experts) throws IOException {
        Publish.writeText(new Path(modelTmp, ModelDirectory.SUMMARY), json(summary), hadoop);
        FileSystem fs = modelTmp.getFileSystem(hadoop);
        Path metricsCopy = new Path(modelTmp, ModelDirectory.METRICS);
        writing(metricsCopy, () -> org.apache.hadoop.fs.FileUtil.copy(fs, metricsPath, fs, metricsCopy, false, hadoop));
        if (cfg.bool("charts.enabled")) {
            Path charts = new Path(modelTmp, ModelDirectory.CHARTS);
            fs.mkdirs(charts);
            Path loss = new Path(charts, Charts.LOSS), load = new Path(charts, Charts.EXPERT_LOAD);
            writing(loss, () -> Charts.loss(all, floorNats, loss, hadoop));
            if (experts > 0) writing(load, () -> Charts.expertLoad(balance.rows(), experts, load, hadoop));
        }
    }

    /** Training tokens (examples) per second of step time over this run's steps. */
    private static double tokensPerSecond(List<StepReport> reports) {
        long examples = 0;
        double secs = 0;
        for (StepReport r : reports) {
            examples += r.examples();
            secs += r.seconds();
        }
        return secs > 0 ? examples / secs : Double.NaN;
    }

    /** The paper's balance columns (table 6), averaged over the last (up to) 10 training steps. */
    private static void balanceColumns(Map<String, Object> s, List<StepMetrics> all) {
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
        balanceColumns(s, all);
        double maxShare = 0;
        for (double v : eval.expertShare()) maxShare = Math.max(maxShare, v);
        s.put("heldoutTop1MaxOverMeanShare", maxShare * eval.expertShare().length);
        s.put("tokensPerSecond", tokensPerSecond(reports));
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
}
