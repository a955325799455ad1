package org.sparkmoe.engine;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Sizes the engine reports to Spark's block store for its persisted step objects
 * ({@code KnownSizeEstimation}). Spark's own estimate walks the object graph, so a view counts the
 * whole array behind it and every block counts the arrays it shares with others: a step's
 * {@link ShardStep} would count the expert parameters (already counted by the cached
 * {@link ExpertShard}) and the shard's whole pooled arena, and the block store, believing the
 * state and the step to be twice their size, would spill the expert state to disk.
 */
final class StepMemory {
    private StepMemory() {
    }

    /** The bytes of a matrix's own elements. */
    static long bytes(Matrix m) {
        return (long) m.size() * (m.precision() == Precision.F32 ? Float.BYTES : Double.BYTES);
    }
}
