package org.sparkmoe.engine;

/** Where expert parameters and their optimiser state live. */
public enum ExpertPlacement {
    /** On the driver: broadcast each step, gradients collected and applied there. */
    DRIVER,
    /**
     * In an RDD partitioned like the expert shards, updated in place on the executors each step (and
     * checkpointed to cut lineage), so the model can outgrow the driver's memory.
     */
    SHARDED
}
