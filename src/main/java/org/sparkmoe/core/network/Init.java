package org.sparkmoe.core.network;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;

/** Initialisers shared by the input layers and heads. */
final class Init {
    private Init() {
    }

    /**
     * Glorot-uniform (Glorot and Bengio 2010): U(-l, l) with l = sqrt(6 / (fanIn + fanOut)), fan-in
     * = rows and fan-out = cols of a {@code x W} weight; keeps activation and gradient variance
     * roughly constant across the layer.
     */
    static void glorotUniform(Matrix w, SplittableRandom random) {
        double limit = Math.sqrt(6.0 / (w.rows() + w.cols()));
        for (int i = 0, n = w.size(); i < n; i++) w.setFlat(i, (2 * random.nextDouble() - 1) * limit);
    }

    /** N(0, std^2) element-wise (Box-Muller from {@code random}, so results depend only on the seed). */
    static void normal(Matrix w, double std, SplittableRandom random) {
        int n = w.size();
        for (int i = 0; i < n; i += 2) {
            double u1 = 1.0 - random.nextDouble(); // (0, 1]: log is finite
            double u2 = random.nextDouble();
            double rad = std * Math.sqrt(-2.0 * Math.log(u1));
            w.setFlat(i, rad * Math.cos(2 * Math.PI * u2));
            if (i + 1 < n) w.setFlat(i + 1, rad * Math.sin(2 * Math.PI * u2));
        }
    }

    static void checkPositive(String what, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }

    static void checkShape(String what, Matrix m, int rows, int cols) {
        if (m.rows() != rows || m.cols() != cols) {
            throw new IllegalArgumentException(what + " must be " + rows + "x" + cols + ", got " + m.rows() + "x" + m.cols());
        }
    }

    static void checkLossScale(double lossScale) {
        if (!Double.isFinite(lossScale)) {
            throw new IllegalArgumentException("lossScale must be finite, got " + lossScale);
        }
    }
}
