package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/** A step's row selection copies exactly the chosen rows, in the chosen order, at both precisions (F32 copies whole rows). */
class RowBlockSelectTest {

    @Test
    void selectsTheChosenRowsInOrderAtBothPrecisions() {
        int d = 3;
        RowBlock a = RowBlock.ofFeatures(new long[] {10, 11, 12}, d, new float[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, new int[] {0, 1, 2});
        RowBlock b = RowBlock.ofFeatures(new long[] {20, 21}, d, new float[] {9, 10, 11, 12, 13, 14}, new int[] {3, 4});
        RowBlock[] blocks = {a, b};
        // positions 0..1 are skipped (from = 2): the selection is b[1], a[0], a[2], b[0]
        int[] block = {0, 0, 1, 0, 0, 1};
        int[] row = {1, 1, 1, 0, 2, 0};
        float[][] expected = {{12, 13, 14}, {0, 1, 2}, {6, 7, 8}, {9, 10, 11}};
        for (Precision p : Precision.values()) {
            Batch s = RowBlock.select(blocks, block, row, 2, 4, p);
            assertEquals(4, s.size());
            assertArrayEquals(new long[] {21, 10, 12, 20}, s.exampleIds());
            assertArrayEquals(new int[] {4, 0, 2, 3}, s.labels());
            Matrix f = s.features();
            assertEquals(p, f.precision());
            for (int r = 0; r < 4; r++) {
                for (int j = 0; j < d; j++) assertEquals(expected[r][j], f.get(r, j), 0.0, p + " row " + r + " column " + j);
            }
        }
    }
}
