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

class DenseProjectionTest {
    static final int DIN = 6, D = 4, M = 5;

    static Parameters init(DenseProjection layer, Precision precision) {
        ParameterLayout.Builder b = ParameterLayout.builder().add("gate.w", 3, 2);
        layer.declare(b);
        Parameters p = b.build().allocate(precision);
        layer.initialise(p, new SplittableRandom(2));
        fillRandom(p.get(DenseProjection.BIAS), 0.5, new SplittableRandom(8));
        return p;
    }

    @Test
    void gradientsMatchCentralDifferences() {
        DenseProjection layer = new DenseProjection(DIN, D);
        Parameters p = init(layer, Precision.F64);
        Batch batch = Batch.ofFeatures(M, ids(M), random(Precision.F64, M, DIN, new SplittableRandom(1)), new int[M]);
        Matrix r = random(Precision.F64, M, D, new SplittableRandom(3));
        Matrix out = Precision.F64.zeros(M, D);
        DoubleSupplier loss = () -> {
            layer.forward(p, batch, out);
            return dot(out, r);
        };
        Parameters grad = p.zerosLike();
        layer.backward(p, batch, r, grad);
        for (String name : new String[] {DenseProjection.WEIGHT, DenseProjection.BIAS}) {
            assertTrue(GradientCheck.hasSignal(grad.get(name)), name);
            assertTrue(GradientCheck.check(name, p.get(name), grad.get(name), loss, 10_000) <= 1e-5);
        }
        assertTrue(allZero(grad.get("gate.w")));
    }

    @Test
    void forwardIsXWPlusB() {
        DenseProjection layer = new DenseProjection(DIN, D);
        Parameters p = init(layer, Precision.F64);
        Matrix x = random(Precision.F64, M, DIN, new SplittableRandom(1));
        Matrix out = Precision.F64.zeros(M, D);
        layer.forward(p, Batch.ofFeatures(M, ids(M), x, new int[M]), out);
        Matrix w = p.get(DenseProjection.WEIGHT);
        for (int r = 0; r < M; r++) {
            for (int k = 0; k < D; k++) {
                double v = p.get(DenseProjection.BIAS).get(0, k);
                for (int i = 0; i < DIN; i++) v += x.get(r, i) * w.get(i, k);
                assertEquals(v, out.get(r, k), 1e-12);
            }
        }
    }

    @Test
    void floatAgreesWithDoubleAndFeaturesMayBeInTheOtherPrecision() {
        DenseProjection layer = new DenseProjection(DIN, D);
        Parameters p64 = init(layer, Precision.F64);
        Parameters p32 = p64.to(Precision.F32);
        Matrix x64 = random(Precision.F64, M, DIN, new SplittableRandom(1));
        Matrix out64 = Precision.F64.zeros(M, D);
        Matrix out32 = Precision.F32.zeros(M, D);
        layer.forward(p64, Batch.ofFeatures(M, ids(M), x64, new int[M]), out64);
        layer.forward(p32, Batch.ofFeatures(M, ids(M), x64, new int[M]), out32); // F64 features, F32 parameters
        assertTrue(maxRelativeDifference(out32, out64) <= 1e-4);
    }

    @Test
    void rejectsNonFiniteFeaturesNamingRowAndColumn() {
        DenseProjection layer = new DenseProjection(DIN, D);
        Parameters p = init(layer, Precision.F64);
        Matrix out = Precision.F64.zeros(M, D);
        Matrix x = random(Precision.F64, M, DIN, new SplittableRandom(1));
        x.set(3, 4, Double.NaN);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> layer.forward(p, Batch.ofFeatures(M, ids(M), x, new int[M]), out));
        assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains("column 4") && e.getMessage().contains("NaN"), e.getMessage());
        x.set(3, 4, 0);
        x.set(1, 0, Double.NEGATIVE_INFINITY);
        e = assertThrows(IllegalArgumentException.class,
                () -> layer.backward(p, Batch.ofFeatures(M, ids(M), x, new int[M]), out, p.zerosLike()));
        assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("column 0"), e.getMessage());
        Matrix narrow = random(Precision.F64, M, DIN - 1, new SplittableRandom(1));
        assertThrows(IllegalArgumentException.class, () -> layer.forward(p, Batch.ofFeatures(M, ids(M), narrow, new int[M]), out));
        assertThrows(IllegalArgumentException.class, () -> new DenseProjection(0, D));
    }
}
