package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.MoENetwork;

/**
 * What every task of one training step needs besides the (broadcast) parameters: the network
 * definition, the step number, the batch plan, the precision, the shuffle payload format and the
 * run's id in the executors' {@link ExpertPool} (null: pool nothing). Small; travels in task closures.
 */
record StepContext(MoENetwork network, Precision precision, long seed, long step, BatchPlan plan, ShufflePayload payload,
                   String run) implements Serializable {

    StepContext(MoENetwork network, Precision precision, long seed, long step, BatchPlan plan) {
        this(network, precision, seed, step, plan, ShufflePayload.F32, null);
    }

    /** A block of rows for the shuffle, in this step's payload format. */
    ShuffleBlock block(int partition, int expert, org.sparkmoe.core.linalg.Matrix rows) {
        return new ShuffleBlock(partition, expert, rows, payload == ShufflePayload.BF16);
    }

    /** A block of rows with the segments of {@code like} (the block they answer), in this step's payload format. */
    ShuffleBlock block(int partition, ShuffleBlock like, org.sparkmoe.core.linalg.Matrix rows) {
        return new ShuffleBlock(partition, like.segmentExperts(), like.segmentCounts(),
                new org.sparkmoe.core.linalg.Matrix[]{rows}, payload == ShufflePayload.BF16);
    }

    GateNoise noise() {
        return GateNoise.training(seed, step);
    }
}
