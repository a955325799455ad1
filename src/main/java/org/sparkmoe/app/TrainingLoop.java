package org.sparkmoe.app;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.SparkMoETrainer;
import org.sparkmoe.engine.StepReport;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.metrics.MetricsLog;

/**
 * The one driver loop of a training run, used by the job and by the estimators' {@code fit}: it
 * resumes from the latest checkpoint when there is one, else starts from a warm start or a fresh
 * initialisation; trains to the target step count, appending one JSON line of metrics per step and
 * checkpointing every {@code checkpointInterval} steps and at the end; and tells its
 * {@link Listener}s (progress, the balance history, divergence checks) about every step.
 * Rerunning a finished run trains nothing; a run stopped at any point continues from its last
 * checkpoint and ends with the same parameters as an uninterrupted one.
 */
public final class TrainingLoop {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingLoop.class);

    private TrainingLoop() {
    }

    /**
     * @param steps              the step count to train to (including the steps of a resumed checkpoint or a warm start)
     * @param checkpointDir      Hadoop path for checkpoints, or null for none
     * @param checkpointInterval steps between checkpoints (a checkpoint is also written at the end)
     * @param keepCheckpoints    how many checkpoints to keep
     * @param metricsPath        Hadoop path of metrics.jsonl, or null
     * @param provenance         free-form key/values stored with each checkpoint
     */
    public record Options(long steps, String checkpointDir, int checkpointInterval, int keepCheckpoints, String metricsPath,
                          Map<String, String> provenance) {
        public Options {
            if (steps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + steps);
            if (checkpointDir != null && checkpointInterval <= 0) {
                throw new IllegalArgumentException("checkpointInterval must be positive, got " + checkpointInterval);
            }
            if (keepCheckpoints <= 0) throw new IllegalArgumentException("keepCheckpoints must be positive, got " + keepCheckpoints);
            provenance = provenance == null ? Map.of() : Map.copyOf(provenance);
        }
    }

    /**
     * Where a run without a checkpoint starts: a whole training state (parameters, optimiser state
     * and step: a retrain continues the published model's run), or parameters only (step 0, fresh
     * optimiser state) with the experts on the executors as (expert, parameters) pairs laid out by
     * an {@link org.sparkmoe.engine.ExpertPartitioner}.
     */
    public record WarmStart(TrainingState state, Parameters shared, JavaPairRDD<Integer, Parameters> experts) {
        public static WarmStart of(TrainingState state) {
            return new WarmStart(state, null, null);
        }

        public static WarmStart distributed(Parameters shared, JavaPairRDD<Integer, Parameters> experts) {
            return new WarmStart(null, shared, experts);
        }

        /** The step the warm start is at (0 for parameters only). */
        public long step() {
            return state == null ? 0 : state.step();
        }
    }

    /** Told about a run as it goes; an exception stops the run. */
    public interface Listener {
        /** Once the trainer has counted the data: its batch plan (a data-sized batch resolved). Not told by {@link #drive}. */
        default void planned(org.sparkmoe.engine.BatchPlan plan) {
        }

        /** Before the first step: the step the run starts at (a resumed checkpoint's) and the target. */
        default void started(long firstStep, long targetStep) {
        }

        default void stepped(StepReport report) throws IOException {
        }

        default void checkpointed(long step) throws IOException {
        }

        /** After the last step and its checkpoint. */
        default void finished(long step) throws IOException {
        }
    }

    /** The trainer after the run (the caller closes it) and what each step of this run reported. */
    public record Result(SparkMoETrainer trainer, List<StepReport> reports) {
    }

    /** A run from a checkpoint or a fresh start, without listeners. */
    public static Result run(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data, Options options)
            throws IOException {
        return run(sc, network, config, data, options, null, List.of());
    }

    public static Result run(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data, Options options,
                             WarmStart warm, List<? extends Listener> listeners) throws IOException {
        CheckpointStore store = options.checkpointDir() == null ? null
                : new CheckpointStore(options.checkpointDir(), sc.hadoopConfiguration(), options.keepCheckpoints());
        SparkMoETrainer trainer = start(sc, network, config, data, store, warm);
        Steps steps = Steps.of(trainer::stepsTaken, trainer::trainStep, trainer::checkpoint);
        try {
            for (Listener l : listeners) l.planned(trainer.plan());
            return new Result(trainer, drive(steps, store, options, listeners, sc.hadoopConfiguration()));
        } catch (IOException | RuntimeException e) {
            trainer.close();
            throw e;
        }
    }

    /** What {@link #drive} runs: a trainer of either engine (the feed-forward one, or the recurrent LM's sequence engine). */
    public interface Steps {
        long stepsTaken();

        StepReport trainStep();

        void checkpoint(CheckpointStore store, Map<String, String> provenance) throws IOException;

        /** A trainer's checkpoint method (whatever it returns). */
        interface Checkpoint {
            Object write(CheckpointStore store, Map<String, String> provenance) throws IOException;
        }

        /** The steps of a trainer given by its methods. */
        static Steps of(java.util.function.LongSupplier stepsTaken, java.util.function.Supplier<StepReport> trainStep,
                        Checkpoint checkpoint) {
            return new Steps() {
                @Override
                public long stepsTaken() {
                    return stepsTaken.getAsLong();
                }

                @Override
                public StepReport trainStep() {
                    return trainStep.get();
                }

                @Override
                public void checkpoint(CheckpointStore store, Map<String, String> provenance) throws IOException {
                    checkpoint.write(store, provenance);
                }
            };
        }
    }

    /**
     * The loop itself, for any trainer: steps up to the target, one metrics line per step, a
     * checkpoint every interval and at the end, the listeners told. The caller closes the trainer.
     *
     * @param store where checkpoints go (null = none)
     * @return what each step of this run reported
     */
    public static List<StepReport> drive(Steps trainer, CheckpointStore store, Options options, List<? extends Listener> listeners,
                                         org.apache.hadoop.conf.Configuration conf) throws IOException {
        List<StepReport> reports = new ArrayList<>();
        MetricsLog metrics = null;
        try {
            metrics = options.metricsPath() == null ? null : new MetricsLog(options.metricsPath(), conf);
            long first = trainer.stepsTaken();
            for (Listener l : listeners) l.started(first, options.steps());
            long lastCheckpoint = first;
            while (trainer.stepsTaken() < options.steps()) {
                StepReport r = trainer.trainStep();
                reports.add(r);
                if (metrics != null) metrics.append(r.toMetrics());
                LOG.debug("step {}/{} loss {} ({} examples/s)", r.step(), options.steps(), r.taskLoss(), Math.round(r.examplesPerSecond()));
                for (Listener l : listeners) l.stepped(r);
                if (store != null && r.step() % options.checkpointInterval() == 0) {
                    trainer.checkpoint(store, options.provenance());
                    lastCheckpoint = r.step();
                    for (Listener l : listeners) l.checkpointed(r.step());
                }
            }
            if (store != null && (lastCheckpoint != trainer.stepsTaken() || store.latest().isEmpty())) {
                trainer.checkpoint(store, options.provenance());
                for (Listener l : listeners) l.checkpointed(trainer.stepsTaken());
            }
            for (Listener l : listeners) l.finished(trainer.stepsTaken());
        } finally {
            if (metrics != null) metrics.close();
        }
        return reports;
    }

    private static SparkMoETrainer start(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                                         CheckpointStore store, WarmStart warm) throws IOException {
        if (store != null && store.latest().isPresent()) return SparkMoETrainer.resume(sc, network, config, data, store);
        if (warm == null) return new SparkMoETrainer(sc, network, config, data);
        if (warm.state() != null) return new SparkMoETrainer(sc, network, config, data, warm.state());
        return SparkMoETrainer.warmStart(sc, network, config, data, warm.shared(), warm.experts());
    }
}
