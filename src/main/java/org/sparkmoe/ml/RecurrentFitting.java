package org.sparkmoe.ml;

import java.io.IOException;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.util.Instrumentation;
import org.apache.spark.sql.Dataset;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.app.MoEConfig;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.app.Settings;
import org.sparkmoe.app.TrainingHistory;
import org.sparkmoe.app.TrainingLoop;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.Tokenizer;
import org.sparkmoe.data.Vocabulary;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.sequence.SequenceLayout;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

import scala.Tuple2;

/**
 * Fitting a recurrent language model (lmModel lstm, moe-1-wide or lstm-moe; paper section 5.1) on the
 * sequence engine ({@link SparkSequenceTrainer}) through the application layer's one driver loop
 * ({@link TrainingLoop#drive}), as the job trains it: checkpoints in checkpointDir carry the stream
 * positions and LSTM state, and a fit with the same checkpointDir resumes from the latest one.
 */
final class RecurrentFitting {
    private RecurrentFitting() {
    }

    private static SparkSequenceTrainer start(JavaSparkContext sc, RecurrentLanguageModel model, EngineConfig ec,
                                              JavaPairRDD<Long, int[]> documents, SequenceLayout layout, CheckpointStore store,
                                              ModelParameters warm, String warmFrom) throws IOException {
        if (store != null && store.latest().isPresent()) return SparkSequenceTrainer.resume(sc, model, ec, documents, layout, store);
        if (warm == null) return new SparkSequenceTrainer(sc, model, ec, documents, layout);
        ModelParameters start = warm.to(ec.trainer().precision());
        try {
            return SparkSequenceTrainer.warmStart(sc, model, ec, documents, layout, TrainingState.fresh(start, ec.trainer().optimiser()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("param initialModelPath: the model at " + warmFrom + " does not have the shape these params"
                    + " and data give: " + e.getMessage(), e);
        }
    }

    /** The trained network (all parameters gathered to the driver) and what each step did. */
    record Trained(RecurrentNetwork network, TrainingHistory history) {
    }

    /**
     * Trains on the documents of {@code texts} (word ids by {@code vocabulary}; documents without a
     * token are dropped; the others indexed in input order, so training is deterministic for a
     * deterministic input order and seed). A checkpoint in checkpointDir is resumed; otherwise
     * {@code warm} (a warm start's parameters, from {@code warmFrom}; null for none) starts the run
     * with fresh optimiser state at step 0, as the window model's warm start.
     */
    static Trained train(Dataset<?> ds, MoELanguageModelParams<?> p, JavaRDD<String> texts, Vocabulary vocabulary,
                         ModelParameters warm, String warmFrom, Fitting.FitContext fit, Instrumentation instr) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        MoEConfig config = ParamsConfig.config(p);
        NetworkSpec network = config.networkSpec(NetworkSpec.Task.LANGUAGE_MODEL, vocabulary.size(), vocabulary.size());
        RecurrentSpec spec = new RecurrentSpec(config.languageModel(), config.number(Settings.LM_DROPOUT), config.integer(Settings.LM_SEQ_LENGTH),
                config.integer(Settings.LM_STREAMS));
        RecurrentLanguageModel model = spec.model(network);
        LanguageModelData encoder = new LanguageModelData(vocabulary, Tokenizer.defaults(), 1);
        JavaPairRDD<Long, int[]> documents = texts.map(encoder::encode).filter(d -> d.length > 0).zipWithIndex()
                .mapToPair(t -> new Tuple2<>(t._2(), t._1())).persist(StorageLevel.MEMORY_AND_DISK());
        String dir = p.getCheckpointDir();
        try {
            long count = documents.count();
            if (count < spec.streams()) {
                throw new IllegalArgumentException("param streams (" + spec.streams() + ") needs at least that many documents with a token in"
                        + " column '" + p.getTextCol() + "'; the training rows have " + count + " (lower streams or give more documents)");
            }
            instr.logNamedValue("documents", count);
            SequenceLayout layout = new SequenceLayout(spec.streams(), spec.seqLength(), Vocabulary.EOS_ID, 0, count,
                    Math.max(1, Math.min(spec.streams(), texts.getNumPartitions())));
            EngineConfig ec = spec.engineConfig(config.engineConfig(), model);
            CheckpointStore store = dir.isEmpty() ? null : new CheckpointStore(dir, sc.hadoopConfiguration(), Fitting.KEEP_CHECKPOINTS);
            TrainingLoop.Options options = new TrainingLoop.Options(p.getMaxSteps(), dir.isEmpty() ? null : dir, p.getCheckpointInterval(),
                    Fitting.KEEP_CHECKPOINTS, null, Map.of("estimator", p.uid()));
            TrainingHistory history = new TrainingHistory();
            TrainingState state;
            try (SparkSequenceTrainer trainer = start(sc, model, ec, documents, layout, store, warm, warmFrom)) {
                TrainingLoop.Steps steps = TrainingLoop.Steps.of(trainer::stepsTaken, trainer::trainStep, trainer::checkpoint);
                try {
                    TrainingLoop.drive(steps, store, options, List.of(history, fit), sc.hadoopConfiguration());
                } catch (Exception e) { // SparkException (checked, undeclared by Scala) included; rethrown as it is unless cancelled
                    if (e instanceof java.util.concurrent.CancellationException || !fit.wasCancelled(e)) throw e;
                    throw fit.cancellation(e);
                }
                state = trainer.snapshot();
            }
            return new Trained(new RecurrentNetwork(network, spec, state.params()), history);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("training checkpoints in " + dir + ": " + e.getMessage(), e);
        } finally {
            documents.unpersist(false);
        }
    }
}
