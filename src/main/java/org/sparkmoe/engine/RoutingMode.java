package org.sparkmoe.engine;

/** How tokens reach their experts. */
public enum RoutingMode {
    /**
     * Tokens travel to expert shards through a shuffle; each expert runs once per step on all of its
     * tokens from all partitions, an expert batch of about k*B/n (paper section 3.1).
     */
    SHUFFLE,
    /**
     * Every data partition runs the (broadcast) experts on its own tokens: no shuffle, but expert
     * batches of about k*B/(n*P) for P partitions. The baseline the shuffle is measured against.
     */
    LOCAL
}
