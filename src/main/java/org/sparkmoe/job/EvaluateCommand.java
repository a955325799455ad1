package org.sparkmoe.job;

import org.apache.spark.api.java.JavaSparkContext;
import java.io.PrintStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Publish;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

/** {@code evaluate}: job.model on held-out data; prints and writes the metrics as JSON. */
class EvaluateCommand extends Command {
    EvaluateCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        java.util.Optional<RecurrentLm.Saved> recurrent = recurrentModel(cfg);
        if (recurrent.isPresent()) return evaluateRecurrent(cfg, recurrent.get());
        Loaded model = loadModel(cfg);
        JobData data = dataFor(cfg, model);
        for (String w : data.warnings) out.println("warning: " + w);
        Evaluator.Result r = Evaluator.evaluate(sc, model.spec().network(), model.state().params(), data.heldout, data.corpus);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.dir().toString());
        m.putAll(r.toMap(model.spec().network().task()));
        checkFinite(m, model, data);
        if (data.outOfVocabulary.containsKey("heldout")) m.put("outOfVocabularyRate", data.outOfVocabulary.get("heldout"));
        return report(cfg, m);
    }

    /** Prints the metrics and writes them to evaluate.output (or output.dir/evaluation.json) when set. */
    private int report(JobConfig cfg, Map<String, Object> m) throws IOException {
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
     * Held-out perplexity of a recurrent language model (paper section 5.1): every held-out document
     * read once from a zero LSTM state, the state carried through the whole document, in windows of
     * the model's T tokens, on the executors
     * ({@link SparkSequenceTrainer#evaluate(org.apache.spark.api.java.JavaSparkContext, RecurrentLanguageModel,
     * org.sparkmoe.core.network.ModelParameters, org.sparkmoe.core.linalg.Precision, int, int,
     * org.apache.spark.api.java.JavaPairRDD, int)}); the data side is as for the window model.
     */
    private int evaluateRecurrent(JobConfig cfg, RecurrentLm.Saved model) throws IOException {
        RecurrentLm.Documents docs = recurrentData(cfg, model);
        Path dir = model.dir();
        TrainingState state = model.state();
        RecurrentSpec r = model.spec().recurrent();
        sc.setJobGroup("spark-moe-evaluate", "spark-moe: held-out perplexity of " + dir, false);
        SparkSequenceTrainer.Evaluation e = SparkSequenceTrainer.evaluate(sc, model.model(), state.params(),
                state.params().shared().precision(), r.seqLength(), org.sparkmoe.data.Vocabulary.EOS_ID, docs.heldout(), r.streams());
        if (e.tokens() == 0) {
            throw new JobData.InputException("evaluating the model " + dir + ": there is no held-out data (" + docs.metadata()
                    .getOrDefault("heldout.path", docs.metadata().getOrDefault("input.path", "the built-in held-out split")) + ")");
        }
        if (!Double.isFinite(e.perplexity())) {
            throw new JobData.InputException("evaluating the model " + dir + " gives perplexity " + e.perplexity() + ": its parameters ("
                    + new Path(dir, ModelDirectory.PARAMETERS) + ") make it unusable; retrain it or restore a good copy");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", dir.toString());
        m.put("lm.model", r.kind());
        m.putAll(TrainCommand.recurrentEvaluation(e));
        return report(cfg, m);
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
