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

class SoftmaxCrossEntropyHeadTest {
    static final int D = 5, CLASSES = 7, M = 6;
    static final int[] LABELS = {0, 6, 3, 3, 1, 5};
    static final double SCALE = 0.37;

    static Parameters init(SoftmaxCrossEntropyHead head, Precision precision) {
        ParameterLayout.Builder b = ParameterLayout.builder().add("input.weight", 2, 3);
        head.declare(b);
        Parameters p = b.build().allocate(precision);
        head.initialise(p, new SplittableRandom(4));
        fillRandom(p.get(SoftmaxCrossEntropyHead.BIAS), 0.5, new SplittableRandom(5));
        return p;
    }

    static Batch batch(int[] labels) {
        return Batch.ofTokens(M, ids(M), new int[M], 1, labels);
    }

    @Test
    void parameterAndInputGradientsMatchCentralDifferences() {
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(D, CLASSES);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        Batch batch = batch(LABELS);
        Matrix dYScratch = Precision.F64.zeros(M, D);
        Parameters gradScratch = p.zerosLike();
        // The loss whose gradient the head reports: lossScale * (sum of per-example losses).
        DoubleSupplier loss = () -> SCALE * head.lossAndGradient(p, y, batch, SCALE, dYScratch, gradScratch);
        Matrix dY = Precision.F64.zeros(M, D);
        Parameters grad = p.zerosLike();
        head.lossAndGradient(p, y, batch, SCALE, dY, grad);
        for (String name : new String[] {SoftmaxCrossEntropyHead.WEIGHT, SoftmaxCrossEntropyHead.BIAS}) {
            assertTrue(GradientCheck.hasSignal(grad.get(name)), name);
            assertTrue(GradientCheck.check(name, p.get(name), grad.get(name), loss, 10_000) <= 1e-5);
        }
        assertTrue(GradientCheck.hasSignal(dY));
        assertTrue(GradientCheck.check("dY", y, dY, loss, 10_000) <= 1e-5);
        assertTrue(allZero(grad.get("input.weight")));
    }

    /**
     * With many classes the head holds a few rows' logits at a time (16 rows at C = 32,768): a batch of
     * several chunks and a ragged last one gives the loss, dY and the accumulated parameter gradients of
     * its rows taken one at a time, and {@code loss} the same loss.
     */
    @Test
    void rowsInChunksGiveWhatTheRowsGiveOneByOne() {
        int classes = 1 << 15, d = 3, m = 37;
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(d, classes);
        Parameters p = init(head, Precision.F64);
        fillRandom(p.get(SoftmaxCrossEntropyHead.WEIGHT), 0.5, new SplittableRandom(8));
        Matrix y = random(Precision.F64, m, d, new SplittableRandom(9));
        int[] labels = new int[m];
        SplittableRandom r = new SplittableRandom(10);
        for (int i = 0; i < m; i++) labels[i] = r.nextInt(classes);
        Matrix dY = Precision.F64.zeros(m, d);
        Parameters grad = p.zerosLike();
        double loss = head.lossAndGradient(p, y, Batch.ofTokens(m, ids(m), new int[m], 1, labels), SCALE, dY, grad);
        double lossOneByOne = 0;
        Parameters gradOneByOne = p.zerosLike();
        Matrix dYRow = Precision.F64.zeros(1, d);
        for (int i = 0; i < m; i++) {
            lossOneByOne += head.lossAndGradient(p, y.slice(i * d, 1, d), Batch.ofTokens(1, ids(1), new int[1], 1, new int[]{labels[i]}),
                    SCALE, dYRow, gradOneByOne);
            for (int c = 0; c < d; c++) assertEquals(dYRow.get(0, c), dY.get(i, c), 1e-15, "dY row " + i);
        }
        assertEquals(lossOneByOne, loss, 1e-9 * Math.abs(loss));
        assertEquals(loss, head.loss(p, y, labels), 0.0);
        assertTrue(GradientCheck.hasSignal(grad.flat()));
        for (int i = 0; i < grad.flat().size(); i++) {
            assertEquals(gradOneByOne.flat().getFlat(i), grad.flat().getFlat(i), 1e-12, "gradient element " + i);
        }
    }

    @Test
    void lossIsUnscaledGradientsAreScaledAndAccumulate() {
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(D, CLASSES);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        Matrix dY1 = Precision.F64.zeros(M, D), dY2 = Precision.F64.zeros(M, D);
        Parameters g1 = p.zerosLike(), g2 = p.zerosLike();
        double l1 = head.lossAndGradient(p, y, batch(LABELS), 1.0, dY1, g1);
        double l2 = head.lossAndGradient(p, y, batch(LABELS), 0.25, dY2, g2);
        assertEquals(l1, l2, 0.0);
        for (int i = 0; i < g1.flat().size(); i++) assertEquals(0.25 * g1.flat().getFlat(i), g2.flat().getFlat(i), 1e-15);
        for (int i = 0; i < dY1.size(); i++) assertEquals(0.25 * dY1.getFlat(i), dY2.getFlat(i), 1e-15);
        head.lossAndGradient(p, y, batch(LABELS), 1.0, dY1, g1);
        head.lossAndGradient(p, y, batch(LABELS), 1.0, dY2, g2.zerosLike()); // dY is overwritten, not accumulated
        for (int i = 0; i < dY1.size(); i++) assertEquals(dY1.getFlat(i), dY2.getFlat(i) * 1.0, 1e-15);
    }

    @Test
    void lossAndPredictionsMatchHandComputation() {
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(D, CLASSES);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        Matrix probs = Precision.F64.zeros(M, CLASSES);
        head.predict(p, y, probs);
        double expected = 0;
        Matrix w = p.get(SoftmaxCrossEntropyHead.WEIGHT), b = p.get(SoftmaxCrossEntropyHead.BIAS);
        for (int r = 0; r < M; r++) {
            double[] z = new double[CLASSES];
            double norm = 0;
            for (int c = 0; c < CLASSES; c++) {
                z[c] = b.get(0, c);
                for (int i = 0; i < D; i++) z[c] += y.get(r, i) * w.get(i, c);
                norm += Math.exp(z[c]);
            }
            double rowSum = 0;
            for (int c = 0; c < CLASSES; c++) {
                assertEquals(Math.exp(z[c]) / norm, probs.get(r, c), 1e-12);
                rowSum += probs.get(r, c);
            }
            assertEquals(1.0, rowSum, 1e-12);
            expected += -Math.log(Math.exp(z[LABELS[r]]) / norm);
        }
        double loss = head.lossAndGradient(p, y, batch(LABELS), 1.0, Precision.F64.zeros(M, D), p.zerosLike());
        assertEquals(expected, loss, 1e-12);
        // Zero weights and biases: uniform prediction, loss log C per example.
        Parameters zero = p.zerosLike();
        assertEquals(M * Math.log(CLASSES), head.lossAndGradient(zero, y, batch(LABELS), 1.0, Precision.F64.zeros(M, D), p.zerosLike()), 1e-12);
    }

    @Test
    void stableForHugeLogits() {
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(D, CLASSES);
        for (Precision precision : Precision.values()) {
            Parameters p = init(head, precision);
            Matrix b = p.get(SoftmaxCrossEntropyHead.BIAS);
            b.set(0, 0, 1e4);
            b.set(0, 1, 1e4 - 2);
            b.set(0, 2, -1e4);
            Matrix y = random(precision, M, D, new SplittableRandom(6));
            Matrix dY = precision.zeros(M, D);
            double loss = head.lossAndGradient(p, y, batch(LABELS), 1.0, dY, p.zerosLike());
            assertTrue(Double.isFinite(loss) && loss > 0, precision + " loss " + loss);
            for (int i = 0; i < dY.size(); i++) assertTrue(Double.isFinite(dY.getFlat(i)));
            Matrix probs = precision.zeros(M, CLASSES);
            head.predict(p, y, probs);
            for (int i = 0; i < probs.size(); i++) assertTrue(Double.isFinite(probs.getFlat(i)));
            // Label 0 sits on the largest logit: its loss is about log(1 + e^-2) give or take y W.
            assertTrue(probs.get(0, 0) > 0.5, precision + " p[0] " + probs.get(0, 0));
        }
    }

    @Test
    void floatAgreesWithDouble() {
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(D, CLASSES);
        Parameters p64 = init(head, Precision.F64);
        Parameters p32 = p64.to(Precision.F32);
        Matrix y64 = random(Precision.F64, M, D, new SplittableRandom(6));
        Matrix y32 = Precision.F32.zeros(M, D);
        y32.copyFrom(y64);
        Matrix dY64 = Precision.F64.zeros(M, D), dY32 = Precision.F32.zeros(M, D);
        double l64 = head.lossAndGradient(p64, y64, batch(LABELS), 1.0, dY64, p64.zerosLike());
        double l32 = head.lossAndGradient(p32, y32, batch(LABELS), 1.0, dY32, p32.zerosLike());
        assertEquals(l64, l32, 1e-4 * Math.abs(l64));
        assertTrue(maxRelativeDifference(dY32, dY64) <= 1e-4);
        Matrix pr64 = Precision.F64.zeros(M, CLASSES), pr32 = Precision.F32.zeros(M, CLASSES);
        head.predict(p64, y64, pr64);
        head.predict(p32, y32, pr32);
        assertTrue(maxRelativeDifference(pr32, pr64) <= 1e-4);
    }

    @Test
    void rejectsLabelsOutsideTheClassesNamingRowAndLabel() {
        SoftmaxCrossEntropyHead head = new SoftmaxCrossEntropyHead(D, CLASSES);
        Parameters p = init(head, Precision.F64);
        Matrix y = random(Precision.F64, M, D, new SplittableRandom(6));
        int[] bad = LABELS.clone();
        bad[4] = CLASSES;
        Parameters grad = p.zerosLike();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> head.lossAndGradient(p, y, batch(bad), 1.0, Precision.F64.zeros(M, D), grad));
        assertTrue(e.getMessage().contains("row 4") && e.getMessage().contains("label " + CLASSES), e.getMessage());
        assertTrue(allZero(grad.flat()), "no gradient may be accumulated before the labels are validated");
        bad[4] = 1;
        bad[2] = -3;
        e = assertThrows(IllegalArgumentException.class,
                () -> head.lossAndGradient(p, y, batch(bad), 1.0, Precision.F64.zeros(M, D), grad));
        assertTrue(e.getMessage().contains("row 2") && e.getMessage().contains("label -3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> head.lossAndGradient(p, y, batch(LABELS), Double.NaN, Precision.F64.zeros(M, D), grad));
        assertThrows(IllegalArgumentException.class, () -> new SoftmaxCrossEntropyHead(D, 0));
    }
}
