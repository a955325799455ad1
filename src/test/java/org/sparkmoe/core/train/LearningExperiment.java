package org.sparkmoe.core.train;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.DenseProjection;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SquaredErrorHead;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;

/** Shared set-up of the learning tests: one data set, the MoE and its dense twin, a training loop. */
final class LearningExperiment {
    static final RegimeMixture DATA = new RegimeMixture(8, 4, 4, 0.1, 42);
    static final int D = 16, H = 32, K = 2, BATCH = 256;

    record Outcome(double heldOutLoss, double cvImportance, double cvLoad, double maxOverMeanLoad, long seconds) {
    }

    static MoENetwork moe(int experts, BalanceWeights w) {
        return new MoENetwork(new DenseProjection(DATA.inputDim, D),
                new MoELayer(NoisyTopKGating.noisyTopK(D, experts, K), new Expert(D, H), false, w),
                new SquaredErrorHead(D, DATA.outputs));
    }

    static MoENetwork dense() {
        return MoENetwork.dense(new DenseProjection(DATA.inputDim, D), K * H, false, new SquaredErrorHead(D, DATA.outputs));
    }

    /** Trains for {@code steps}; balance columns are averaged over the last 10% of training steps. */
    static Outcome train(MoENetwork net, int steps, long seed) {
        long t0 = System.nanoTime();
        TrainerConfig cfg = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.01, 100), 5.0, seed,
                Precision.F32);
        ReferenceTrainer trainer = new ReferenceTrainer(net, cfg);
        double cvi = 0, cvl = 0, mm = 0;
        int tail = Math.max(1, steps / 10);
        for (int s = 0; s < steps; s++) {
            var o = trainer.step(DATA.batch(BATCH, s, Precision.F32));
            if (s >= steps - tail) {
                cvi += o.result().balance().cvImportance() / tail;
                cvl += o.result().balance().cvLoad() / tail;
                mm += o.result().balance().maxOverMeanLoad() / tail;
            }
        }
        double loss = 0;
        int evalBatches = 8;
        for (int b = 0; b < evalBatches; b++) {
            loss += trainer.evaluate(DATA.batch(1024, 1_000_000 + b, Precision.F32)).meanTaskLoss() / evalBatches;
        }
        return new Outcome(loss, cvi, cvl, mm, (System.nanoTime() - t0) / 1_000_000_000L);
    }
}
