package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.core.network.NetTestUtil.*;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.testing.GradientCheck;

class SquaredErrorHeadTest {
    static final int D = 5, O = 3, M = 6;
    static final double SCALE = 0.37;

    static Parameters init(SquaredErrorHead head, Precision precision) {
        ParameterLayout.Builder b = ParameterLayout.builder().add("input.weight", 2, 3);
        head.declare(b);
        Parameters p = b.build().allocate(precision);
        head.initialise(p, new SplittableRandom(4));
        fillRandom(p.get(SquaredErrorHead.BIAS), 0.5, new SplittableRandom(5));
        return p;
    }

    static Batch batch(Matrix targets) {
        return Batch.ofFeatures(M, ids(M), Precision.F64.zeros(M, 1), targets);
    }

    @Test
    void parameterAndInputGradientsMatchCentralDifferences() {
        SquaredErrorHead head = new SquaredErrorHead(D, O);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        Batch batch = batch(random(Precision.F64, M, O, new SplittableRandom(7)));
        Matrix dYScratch = Precision.F64.zeros(M, D);
        Parameters gradScratch = p.zerosLike();
        DoubleSupplier loss = () -> SCALE * head.lossAndGradient(p, y, batch, SCALE, dYScratch, gradScratch);
        Matrix dY = Precision.F64.zeros(M, D);
        Parameters grad = p.zerosLike();
        head.lossAndGradient(p, y, batch, SCALE, dY, grad);
        for (String name : new String[] {SquaredErrorHead.WEIGHT, SquaredErrorHead.BIAS}) {
            assertTrue(GradientCheck.hasSignal(grad.get(name)), name);
            assertTrue(GradientCheck.check(name, p.get(name), grad.get(name), loss, 10_000) <= 1e-5);
        }
        assertTrue(GradientCheck.hasSignal(dY));
        assertTrue(GradientCheck.check("dY", y, dY, loss, 10_000) <= 1e-5);
        assertTrue(allZero(grad.get("input.weight")));
    }

    @Test
    void lossAndPredictionsMatchHandComputation() {
        SquaredErrorHead head = new SquaredErrorHead(D, O);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        Matrix t = random(Precision.F64, M, O, new SplittableRandom(7));
        Matrix yhat = Precision.F64.zeros(M, O);
        head.predict(p, y, yhat);
        Matrix w = p.get(SquaredErrorHead.WEIGHT), b = p.get(SquaredErrorHead.BIAS);
        double expected = 0;
        for (int r = 0; r < M; r++) {
            for (int k = 0; k < O; k++) {
                double v = b.get(0, k);
                for (int i = 0; i < D; i++) v += y.get(r, i) * w.get(i, k);
                assertEquals(v, yhat.get(r, k), 1e-12);
                expected += 0.5 * (v - t.get(r, k)) * (v - t.get(r, k));
            }
        }
        Parameters g1 = p.zerosLike(), g2 = p.zerosLike();
        Matrix dY1 = Precision.F64.zeros(M, D), dY2 = Precision.F64.zeros(M, D);
        assertEquals(expected, head.lossAndGradient(p, y, batch(t), 1.0, dY1, g1), 1e-12);
        assertEquals(expected, head.lossAndGradient(p, y, batch(t), 0.25, dY2, g2), 1e-12, "loss is unscaled");
        for (int i = 0; i < g1.flat().size(); i++) assertEquals(0.25 * g1.flat().getFlat(i), g2.flat().getFlat(i), 1e-15);
        for (int i = 0; i < dY1.size(); i++) assertEquals(0.25 * dY1.getFlat(i), dY2.getFlat(i), 1e-15);
    }

    @Test
    void floatAgreesWithDoubleAndTargetsMayBeInTheOtherPrecision() {
        SquaredErrorHead head = new SquaredErrorHead(D, O);
        Parameters p64 = init(head, Precision.F64);
        Parameters p32 = p64.to(Precision.F32);
        Matrix y64 = random(Precision.F64, M, D, new SplittableRandom(6));
        Matrix y32 = Precision.F32.zeros(M, D);
        y32.copyFrom(y64);
        Matrix t64 = random(Precision.F64, M, O, new SplittableRandom(7));
        Matrix dY64 = Precision.F64.zeros(M, D), dY32 = Precision.F32.zeros(M, D);
        double l64 = head.lossAndGradient(p64, y64, batch(t64), 1.0, dY64, p64.zerosLike());
        double l32 = head.lossAndGradient(p32, y32, batch(t64), 1.0, dY32, p32.zerosLike()); // F64 targets, F32 head
        assertEquals(l64, l32, 1e-4 * l64);
        assertTrue(maxRelativeDifference(dY32, dY64) <= 1e-4);
    }

    @Test
    void rejectsMissingOrMisshapenTargets() {
        SquaredErrorHead head = new SquaredErrorHead(D, O);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        assertThrows(IllegalArgumentException.class, () -> head.lossAndGradient(p, y,
                Batch.ofTokens(M, ids(M), new int[M], 1, new int[M]), 1.0, Precision.F64.zeros(M, D), p.zerosLike()));
        assertThrows(IllegalArgumentException.class, () -> head.lossAndGradient(p, y,
                batch(Precision.F64.zeros(M, O + 1)), 1.0, Precision.F64.zeros(M, D), p.zerosLike()));
        assertThrows(IllegalArgumentException.class, () -> new SquaredErrorHead(D, 0));
    }
}
