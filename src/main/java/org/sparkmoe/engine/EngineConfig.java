package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.train.TrainerConfig;

/**
 * How the Spark engine trains: routing of tokens to experts, where expert parameters live, how many
 * expert shards, the global mini-batch size B ({@link BatchPlan#DATA_SIZED} = sized from the training data by
 * {@link BatchPlan#dataSized}), the optimiser settings (shared with the reference
 * trainer) and how often the sharded expert state is checkpointed to cut its lineage.
 *
 * @param lineageCheckpointInterval steps between reliable checkpoints of the sharded expert state
 *                                  (needs {@code SparkContext.setCheckpointDir}; local checkpoints otherwise)
 * @param keepGradients             keep each step's gradient on the driver (tests and debugging)
 * @param shufflePayload            how float32 rows cross the shuffles (bfloat16 halves the bytes)
 */
public record EngineConfig(RoutingMode routing, ExpertPlacement placement, int expertShards, int batchSize,
                           TrainerConfig trainer, int lineageCheckpointInterval, boolean keepGradients,
                           ShufflePayload shufflePayload) implements Serializable {
    public EngineConfig {
        if (routing == null || placement == null || trainer == null || shufflePayload == null) {
            throw new IllegalArgumentException("routing, placement, trainer settings and shuffle payload are required");
        }
        if (expertShards <= 0) throw new IllegalArgumentException("expertShards must be positive, got " + expertShards);
        if (batchSize < 0) throw new IllegalArgumentException("batchSize must be positive (or 0: data-sized), got " + batchSize);
        if (lineageCheckpointInterval <= 0) {
            throw new IllegalArgumentException("lineageCheckpointInterval must be positive, got " + lineageCheckpointInterval);
        }
    }

    /** Float32 shuffle payloads. */
    public EngineConfig(RoutingMode routing, ExpertPlacement placement, int expertShards, int batchSize,
                        TrainerConfig trainer, int lineageCheckpointInterval, boolean keepGradients) {
        this(routing, placement, expertShards, batchSize, trainer, lineageCheckpointInterval, keepGradients, ShufflePayload.F32);
    }

    public static EngineConfig of(RoutingMode routing, ExpertPlacement placement, int expertShards, int batchSize,
                                  TrainerConfig trainer) {
        return new EngineConfig(routing, placement, expertShards, batchSize, trainer, 10, false);
    }

    public EngineConfig withKeepGradients(boolean keep) {
        return new EngineConfig(routing, placement, expertShards, batchSize, trainer, lineageCheckpointInterval, keep, shufflePayload);
    }

    public EngineConfig withBatchSize(int batch) {
        return new EngineConfig(routing, placement, expertShards, batch, trainer, lineageCheckpointInterval, keepGradients, shufflePayload);
    }

    public EngineConfig withShufflePayload(ShufflePayload payload) {
        return new EngineConfig(routing, placement, expertShards, batchSize, trainer, lineageCheckpointInterval, keepGradients, payload);
    }
}
