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
    LOCAL,
    /**
     * {@link #LOCAL} for a small model whose experts live on the driver, {@link #SHUFFLE} otherwise:
     * see {@link #resolve}.
     */
    AUTO;

    /**
     * The routing a step runs. AUTO picks LOCAL when the placement is DRIVER and shipping every
     * expert to the P data partitions and their gradients back, (P + 1) * n * |theta_e| floats,
     * is at most a quarter of the rows a shuffle-routed step moves, 4 * k * B * d floats (dispatch,
     * combine and their two backward shuffles); then a step has no row shuffle at all, which is what
     * a small model's step time is made of (issue 9, configuration 4: d = 64, n = 16, h = 64, k = 2,
     * B = 16384, P = 4 moves 0.67M expert floats against 8.4M row floats). Otherwise SHUFFLE,
     * whose expert batches stay at k*B/n however many partitions there are.
     *
     * @param expertSize |theta_e|, the parameters of one expert
     */
    public RoutingMode resolve(ExpertPlacement placement, int partitions, int numExperts, long expertSize, int k, int batchSize,
                               int modelDim) {
        if (this != AUTO) return this;
        double expertFloats = (partitions + 1.0) * numExperts * expertSize;
        double rowFloats = (double) k * batchSize * modelDim;
        return placement == ExpertPlacement.DRIVER && expertFloats <= rowFloats ? LOCAL : SHUFFLE;
    }
}
