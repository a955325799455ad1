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
import org.sparkmoe.core.synthetic.RegimeMixture;

/**
 * Single-JVM quickstart on built-in synthetic data (no download, no Spark): trains an MoE with and
 * without the balancing losses and a dense network of the same compute per example on a
 * {@link RegimeMixture}, and prints the paper's appendix columns. The learning tests run exactly
 * this experiment.
 */
public final class Quickstart {
    public static final RegimeMixture DATA = new RegimeMixture(8, 4, 4, 0.1, 42);
    public static final int D = 16, H = 32, K = 2, BATCH = 256;

    private Quickstart() {
    }

    /** Held-out mean loss and the balance columns, averaged over the last 10% of training steps. */
    public record Outcome(double heldOutLoss, double cvImportance, double cvLoad, double maxOverMeanLoad, long seconds) {
    }

    public static MoENetwork moe(int experts, BalanceWeights w) {
        return new MoENetwork(new DenseProjection(DATA.inputDim(), D),
                new MoELayer(NoisyTopKGating.noisyTopK(D, experts, K), new Expert(D, H), false, w),
                new SquaredErrorHead(D, DATA.outputs()));
    }

    public static MoENetwork dense() {
        return MoENetwork.dense(new DenseProjection(DATA.inputDim(), D), K * H, false, new SquaredErrorHead(D, DATA.outputs()));
    }

    /** Trains for {@code steps}; balance columns are averaged over the last 10% of training steps. */
    public static Outcome train(MoENetwork net, int steps, long seed) {
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

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        int experts = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        System.out.printf("Mixture of %d regimes, %d inputs -> %d outputs; noise floor %.4f%n",
                DATA.regimes(), DATA.inputDim(), DATA.outputs(), DATA.noiseFloor());
        System.out.printf("%-28s %10s %8s %8s %9s %6s%n", "model", "loss", "CV(Imp)", "CV(Load)", "max/mean", "sec");
        print("MoE-" + experts + " k=" + K + " w=0.1/0.1", train(moe(experts, BalanceWeights.PAPER), steps, 1));
        print("MoE-" + experts + " k=" + K + " w=0/0", train(moe(experts, BalanceWeights.NONE), steps, 1));
        print("dense hidden " + K * H, train(dense(), steps, 1));
    }

    private static void print(String name, Outcome o) {
        System.out.printf("%-28s %10.4f %8.3f %8.3f %9.3f %6d%n", name, o.heldOutLoss(), o.cvImportance(), o.cvLoad(),
                o.maxOverMeanLoad(), o.seconds());
    }
}
