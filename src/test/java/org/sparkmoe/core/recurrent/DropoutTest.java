package org.sparkmoe.core.recurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/** The dropout mask: rate, inverted scaling, and a pure function of (seed, step, token id, layer, unit). */
class DropoutTest {

    @Test
    void keepsOneMinusRateScaledByItsInverse() {
        Dropout d = Dropout.training(0.3, 7, 11);
        int n = 200_000, kept = 0;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double k = d.multiplier(i / 100, 2, i % 100);
            if (k != 0) {
                kept++;
                assertEquals(1 / 0.7, k, 1e-15);
            }
            sum += k;
        }
        assertEquals(0.7, kept / (double) n, 0.005);
        assertEquals(1.0, sum / n, 0.01);
    }

    @Test
    void maskDependsOnlyOnItsCoordinates() {
        Dropout d = Dropout.training(0.5, 3, 4);
        long[] ids = {40, 41, 42};
        Matrix in = Precision.F64.zeros(3, 8), mask = Precision.F64.zeros(3, 8), out = Precision.F64.zeros(3, 8);
        in.fill(1);
        d.forward(in, null, ids, 1, mask, out);
        for (int r = 0; r < 3; r++) {
            for (int j = 0; j < 8; j++) assertEquals(d.multiplier(ids[r], 1, j), mask.get(r, j));
        }
        int differ = 0;
        for (int j = 0; j < 64; j++) {
            if (d.multiplier(40, 1, j) != d.multiplier(40, 2, j)) differ++;
            if (d.multiplier(40, 1, j) != Dropout.training(0.5, 3, 5).multiplier(40, 1, j)) differ++;
        }
        assertNotEquals(0, differ, "layers and steps must get independent masks");
        assertEquals(1.0, Dropout.none().multiplier(40, 1, 0));
    }
}
