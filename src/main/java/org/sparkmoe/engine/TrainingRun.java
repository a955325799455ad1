package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.metrics.MetricsLog;

/**
 * A training run to a target step count: resumes from the latest checkpoint when there is one,
 * appends one JSON line of metrics per step, and checkpoints every {@code checkpointInterval} steps
 * and at the end. Rerunning a finished run does nothing; a run stopped at any point continues
 * from its last checkpoint and ends with the same parameters as an uninterrupted one.
 */
public final class TrainingRun {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingRun.class);

    /**
     * @param steps              the step count to train to (including steps of resumed checkpoints)
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

    private TrainingRun() {
    }

    /** Trains and returns the trainer (for snapshots and further steps) with the reports of the steps run now. */
    public static Result run(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                             Options options) throws IOException {
        CheckpointStore store = options.checkpointDir() == null ? null
                : new CheckpointStore(options.checkpointDir(), sc.hadoopConfiguration(), options.keepCheckpoints());
        SparkMoETrainer trainer = store == null ? new SparkMoETrainer(sc, network, config, data)
                : SparkMoETrainer.resume(sc, network, config, data, store);
        List<StepReport> reports = new ArrayList<>();
        MetricsLog metrics = options.metricsPath() == null ? null : new MetricsLog(options.metricsPath(), sc.hadoopConfiguration());
        try {
            long lastCheckpoint = trainer.stepsTaken();
            while (trainer.stepsTaken() < options.steps()) {
                StepReport r = trainer.trainStep();
                reports.add(r);
                if (metrics != null) metrics.append(r.toMetrics());
                LOG.info("step {}/{} loss {} ({} examples/s)", r.step(), options.steps(), r.taskLoss(), Math.round(r.examplesPerSecond()));
                if (store != null && r.step() % options.checkpointInterval() == 0) {
                    trainer.checkpoint(store, options.provenance());
                    lastCheckpoint = r.step();
                }
            }
            if (store != null && lastCheckpoint != trainer.stepsTaken()) {
                trainer.checkpoint(store, options.provenance());
            }
        } finally {
            if (metrics != null) metrics.close();
        }
        return new Result(trainer, reports);
    }

    /** The trainer after the run and what each step of this run reported. */
    public record Result(SparkMoETrainer trainer, List<StepReport> reports) {
    }
}
