package org.sparkmoe.core.network;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/** Small helpers for the network tests. */
final class NetTestUtil {
    private NetTestUtil() {
    }

    static Matrix random(Precision p, int rows, int cols, SplittableRandom random) {
        Matrix m = p.zeros(rows, cols);
        for (int i = 0; i < m.size(); i++) m.setFlat(i, 2 * random.nextDouble() - 1);
        return m;
    }

    static void fillRandom(Matrix m, double scale, SplittableRandom random) {
        for (int i = 0; i < m.size(); i++) m.setFlat(i, scale * (2 * random.nextDouble() - 1));
    }

    /** Sum of element-wise products: a linear "loss" whose gradient with respect to a is b. */
    static double dot(Matrix a, Matrix b) {
        double s = 0;
        for (int i = 0; i < a.size(); i++) s += a.getFlat(i) * b.getFlat(i);
        return s;
    }

    static long[] ids(int n) {
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = 1000 + i;
        return ids;
    }

    /** max |a - b| / max |b|. */
    static double maxRelativeDifference(Matrix a, Matrix b) {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.size(); i++) {
            diff = Math.max(diff, Math.abs(a.getFlat(i) - b.getFlat(i)));
            scale = Math.max(scale, Math.abs(b.getFlat(i)));
        }
        return diff / scale;
    }

    static boolean allZero(Matrix m) {
        for (int i = 0; i < m.size(); i++) if (m.getFlat(i) != 0) return false;
        return true;
    }
}
