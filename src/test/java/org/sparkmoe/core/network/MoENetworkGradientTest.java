package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.Gating;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.testing.GradientCheck;

/**
 * Central-difference checks of the whole network's objective (mean task loss + L_importance +
 * L_load) for every parameter tensor: input layer, gates, experts, head.
 */
class MoENetworkGradientTest {
    private static final Precision F64 = Precision.F64;

    @Test
    void languageModelWithNoisyTopK() {
        int d = 6, vocab = 11, context = 3, m = 16;
        InputLayer input = new TokenContextEmbedding(vocab, context, 4, d, TokenContextEmbedding.Mode.CONCAT);
        Gating gating = NoisyTopKGating.noisyTopK(d, 5, 2);
        MoENetwork net = new MoENetwork(input, new MoELayer(gating, new Expert(d, 5), true, new BalanceWeights(0.3, 0.4)),
                new SoftmaxCrossEntropyHead(d, vocab));
        SplittableRandom r = new SplittableRandom(3);
        int[] tokens = new int[m * context];
        int[] labels = new int[m];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(vocab);
        for (int i = 0; i < m; i++) labels[i] = r.nextInt(vocab);
        check("lm", net, Batch.ofTokens(m, ids(m), tokens, context, labels), 3);
    }

    @Test
    void regressionWithHierarchicalGating() {
        int d = 5, dIn = 4, m = 18;
        InputLayer input = new DenseProjection(dIn, d);
        Gating gating = new HierarchicalGating(d, 2, 3, 1 + 1, 2, true);
        MoENetwork net = new MoENetwork(input, new MoELayer(gating, new Expert(d, 4), false, new BalanceWeights(0.5, 0.5)),
                new SquaredErrorHead(d, 2));
        SplittableRandom r = new SplittableRandom(4);
        Matrix features = F64.zeros(m, dIn);
        Matrix targets = F64.zeros(m, 2);
        for (int i = 0; i < features.size(); i++) features.setFlat(i, r.nextGaussian());
        for (int i = 0; i < targets.size(); i++) targets.setFlat(i, r.nextGaussian());
        check("hier-regression", net, Batch.ofFeatures(m, ids(m), features, targets), 4);
    }

    @Test
    void classificationWithSoftmaxGating() {
        int d = 5, dIn = 3, m = 12;
        MoENetwork net = new MoENetwork(new DenseProjection(dIn, d),
                new MoELayer(NoisyTopKGating.softmax(d, 3), new Expert(d, 3), false, new BalanceWeights(0.2, 0)),
                new SoftmaxCrossEntropyHead(d, 4));
        SplittableRandom r = new SplittableRandom(5);
        Matrix features = F64.zeros(m, dIn);
        for (int i = 0; i < features.size(); i++) features.setFlat(i, r.nextGaussian());
        int[] labels = new int[m];
        for (int i = 0; i < m; i++) labels[i] = r.nextInt(4);
        check("softmax-classification", net, Batch.ofFeatures(m, ids(m), features, labels), 5);
    }

    /** Non-uniform example weights (a zero, fractions, a large one): the weighted task loss's gradient, every tensor. */
    @Test
    void weightedClassificationAndRegression() {
        int d = 5, dIn = 3, m = 12;
        SplittableRandom r = new SplittableRandom(6);
        float[] w = new float[m];
        for (int i = 0; i < m; i++) w[i] = (float) (0.25 + 2.5 * r.nextDouble());
        w[3] = 0;
        w[7] = 6;
        Matrix features = F64.zeros(m, dIn);
        for (int i = 0; i < features.size(); i++) features.setFlat(i, r.nextGaussian());
        int[] labels = new int[m];
        for (int i = 0; i < m; i++) labels[i] = r.nextInt(4);
        MoENetwork classifier = new MoENetwork(new DenseProjection(dIn, d),
                new MoELayer(NoisyTopKGating.noisyTopK(d, 4, 2), new Expert(d, 3), false, new BalanceWeights(0.3, 0.2)),
                new SoftmaxCrossEntropyHead(d, 4));
        check("weighted-classification", classifier, Batch.ofFeatures(m, ids(m), features, labels).withWeights(w), 6);
        Matrix targets = F64.zeros(m, 2);
        for (int i = 0; i < targets.size(); i++) targets.setFlat(i, r.nextGaussian());
        MoENetwork regressor = new MoENetwork(new DenseProjection(dIn, d),
                new MoELayer(NoisyTopKGating.noisyTopK(d, 4, 2), new Expert(d, 3), true, new BalanceWeights(0.3, 0.2)),
                new SquaredErrorHead(d, 2));
        check("weighted-regression", regressor, Batch.ofFeatures(m, ids(m), features, targets).withWeights(w), 7);
    }

    private static long[] ids(int m) {
        long[] ids = new long[m];
        for (int i = 0; i < m; i++) ids[i] = 31L * i + 7;
        return ids;
    }

    private static void check(String name, MoENetwork net, Batch batch, long seed) {
        ModelParameters params = net.initialise(F64, seed);
        // move the gates off their zero initialisation so that gating gradients are informative
        SplittableRandom r = new SplittableRandom(seed + 100);
        for (int t = 0; t < params.shared().layout().entries().size(); t++) {
            if (params.shared().layout().entries().get(t).name().startsWith("gate.")) {
                Matrix g = params.shared().get(t);
                for (int i = 0; i < g.size(); i++) g.setFlat(i, r.nextGaussian() * 0.7);
            }
        }
        GateNoise noise = GateNoise.training(seed, 2);
        MoENetwork.Workspace ws = net.newWorkspace(F64);
        ModelParameters grad = params.zerosLike();
        net.forwardBackward(params, batch, noise, ws, grad);
        DoubleSupplier objective = () -> net.forwardBackward(params, batch, noise, ws, params.zerosLike()).objective();
        GradientCheck.check(name + ".shared", params.shared(), grad.shared(), objective, 150);
        for (int t = 0; t < grad.shared().layout().entries().size(); t++) {
            String tensor = grad.shared().layout().entries().get(t).name();
            if (!tensor.contains("group") || tensor.contains("group0")) {  // a group may legitimately get no rows
                assertTrue(GradientCheck.hasSignal(grad.shared().get(t)), name + ": no gradient for " + tensor);
            }
        }
        for (int e = 0; e < params.experts().length; e++) {
            GradientCheck.check(name + ".expert" + e, params.experts()[e], grad.experts()[e], objective, 60);
        }
    }
}
