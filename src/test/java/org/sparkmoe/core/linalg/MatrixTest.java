package org.sparkmoe.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The coarse-grained {@link Matrix} operations on both precisions, always on views that sit at a
 * non-zero offset inside a larger array padded with a sentinel: the operations must address the
 * view, and must not touch anything around it.
 */
class MatrixTest {
    private static final double SENTINEL = -99;
    private static final int PAD = 5;

    /** A rows x cols view at offset PAD in an array with PAD sentinel elements either side, filled with f(r, c). */
    private static Matrix view(Precision p, int rows, int cols, java.util.function.IntBinaryOperator f) {
        int n = rows * cols + 2 * PAD;
        Matrix m;
        if (p == Precision.F32) {
            float[] d = new float[n];
            java.util.Arrays.fill(d, (float) SENTINEL);
            m = new FloatMatrix(d, PAD, rows, cols);
        } else {
            double[] d = new double[n];
            java.util.Arrays.fill(d, SENTINEL);
            m = new DoubleMatrix(d, PAD, rows, cols);
        }
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) m.set(r, c, f.applyAsInt(r, c));
        }
        return m;
    }

    private static double raw(Matrix m, int i) {
        return m instanceof FloatMatrix f ? f.data()[i] : ((DoubleMatrix) m).data()[i];
    }

    private static int rawLength(Matrix m) {
        return m instanceof FloatMatrix f ? f.data().length : ((DoubleMatrix) m).data().length;
    }

    private static void assertPaddingIntact(Matrix m) {
        for (int i = 0; i < m.offset(); i++) assertEquals(SENTINEL, raw(m, i), "before view at " + i);
        for (int i = m.offset() + m.size(); i < rawLength(m); i++) assertEquals(SENTINEL, raw(m, i), "after view at " + i);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void gatherRowsCopiesIndexedRowsFromTheSourceView(Precision p) {
        Matrix src = view(p, 6, 3, (r, c) -> 10 * r + c);
        Matrix dst = view(p, 3, 3, (r, c) -> 0);
        int[] index = {7, 7, 5, 0, 2, 7};
        dst.gatherRows(src, index, 2, 3);   // rows 5, 0, 2
        int[] expectRows = {5, 0, 2};
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++) assertEquals(10 * expectRows[r] + c, dst.get(r, c), 0);
        }
        assertPaddingIntact(dst);
        assertPaddingIntact(src);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void scatterAddRowsAccumulatesScaledRows(Precision p) {
        Matrix dst = view(p, 4, 2, (r, c) -> 1);
        Matrix src = view(p, 3, 2, (r, c) -> r + 1 + c);   // rows (1,2), (2,3), (3,4)
        int[] index = {9, 3, 1, 3};
        double[] scale = {0, 2, 0.5, -1};
        dst.scatterAddRows(src, index, 1, 3, scale);
        // row 3 += 2*(1,2) - 1*(3,4) ; row 1 += 0.5*(2,3)
        double[][] expected = {{1, 1}, {2, 2.5}, {1, 1}, {0, 1}};
        for (int r = 0; r < 4; r++) {
            for (int c = 0; c < 2; c++) assertEquals(expected[r][c], dst.get(r, c), 1e-6, "(" + r + "," + c + ")");
        }
        dst.scatterAddRows(src, new int[] {0}, 0, 1, null);   // null scale means 1
        assertEquals(2, dst.get(0, 0), 0);
        assertEquals(3, dst.get(0, 1), 0);
        assertPaddingIntact(dst);
    }

    /** Random values with fractional parts, so that a change in the order of additions shows in the last bits. */
    private static Matrix randomView(Precision p, int rows, int cols, java.util.SplittableRandom rnd) {
        Matrix m = view(p, rows, cols, (r, c) -> 0);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) m.set(r, c, rnd.nextDouble() * 2 - 1);
        }
        return m;
    }

    private static void assertSameBits(Matrix expected, Matrix actual) {
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(Double.doubleToRawLongBits(expected.getFlat(i)), Double.doubleToRawLongBits(actual.getFlat(i)), "element " + i);
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void sumRowsOfIsClearScatterInEntryOrderThenResidualBitForBit(Precision p) {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        int rows = 5, cols = 7, slots = 3;
        // entries grouped by "expert" as a dispatch lays them out; row 3 routes nowhere, slot order is not entry order
        int[] entryOf = {4, 0, -1, 5, -1, 1, 2, 6, 7, -1, -1, -1, 3, 8, -1};
        int[] rowOf = new int[9];
        for (int q = 0; q < entryOf.length; q++) if (entryOf[q] >= 0) rowOf[entryOf[q]] = q / slots;
        double[] scale = new double[9];
        for (int q = 0; q < scale.length; q++) scale[q] = rnd.nextDouble();
        Matrix src = randomView(p, 9, cols, rnd);
        Matrix residual = randomView(p, rows, cols, rnd);
        for (boolean withResidual : new boolean[]{false, true}) {
            for (double[] sc : new double[][]{scale, null}) {
                Matrix expected = view(p, rows, cols, (r, c) -> 1);
                expected.fill(0);
                for (int q = 0; q < 9; q++) expected.scatterAddRows(src.slice(q * cols, 1, cols), rowOf, q, 1, sc);
                if (withResidual) expected.axpy(1, residual);
                Matrix actual = view(p, rows, cols, (r, c) -> 1);
                actual.sumRowsOf(src, entryOf, slots, sc, withResidual ? residual : null);
                assertSameBits(expected, actual);
                assertPaddingIntact(actual);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void gatherScaledRowsDotIsGatherScaleAndDotRowsBitForBit(Precision p) {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        int cols = 6;
        Matrix src = randomView(p, 8, cols, rnd);
        int[] index = {9, 9, 3, 0, 7, 3, 5};
        double[] scale = {9, 9, 0.25, -1.5, 0.7, 0.1, 2.2};
        for (int count : new int[]{3, 4, 5}) { // the kernel takes rows four at a time, then one at a time
            Matrix other = randomView(p, count, cols, rnd);
            Matrix expected = view(p, count, cols, (r, c) -> 0);
            expected.gatherRows(src, index, 2, count);
            double[] expectedDots = new double[count];
            for (int r = 0; r < count; r++) expectedDots[r] = src.dotRows(index[2 + r], other, r);
            expected.scaleRows(scale, 2);
            Matrix actual = view(p, count, cols, (r, c) -> 0);
            double[] dots = new double[count + 1];
            actual.gatherScaledRowsDot(src, index, 2, count, scale, other, dots);
            assertSameBits(expected, actual);
            assertPaddingIntact(actual);
            for (int r = 0; r < count; r++) {
                assertEquals(Double.doubleToRawLongBits(expectedDots[r]), Double.doubleToRawLongBits(dots[r]), "dot " + r);
            }
            // with the column sums of the rows written: addColumnSumsTo's bits, the rest unchanged
            Matrix expectedSums = randomView(p, 1, cols, new java.util.SplittableRandom(count));
            expected.addColumnSumsTo(expectedSums);
            Matrix sums = randomView(p, 1, cols, new java.util.SplittableRandom(count));
            Matrix withSums = view(p, count, cols, (r, c) -> 0);
            double[] sumDots = new double[count];
            withSums.gatherScaledRowsDot(src, index, 2, count, scale, other, sumDots, sums);
            assertSameBits(expected, withSums);
            assertSameBits(expectedSums, sums);
            assertPaddingIntact(sums);
            for (int r = 0; r < count; r++) assertEquals(Double.doubleToRawLongBits(dots[r]), Double.doubleToRawLongBits(sumDots[r]));
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void firstNonFiniteFindsNaNAndInfinitiesInAView(Precision p) {
        Matrix m = view(p, 3, 5, (r, c) -> r - c);
        assertEquals(-1, m.firstNonFinite());
        m.set(2, 1, Double.MAX_VALUE);
        assertEquals(p == Precision.F32 ? 11 : -1, m.firstNonFinite(), "float32 overflows to infinity");
        m.set(2, 1, 0);
        m.set(1, 3, Double.NEGATIVE_INFINITY);
        m.set(2, 4, Double.NaN);
        assertEquals(8, m.firstNonFinite());
        m.set(1, 3, 1e-40);
        assertEquals(14, m.firstNonFinite());
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void setRowsToCopiesTheRowIntoEveryRow(Precision p) {
        Matrix row = view(p, 1, 3, (r, c) -> 7 + c);
        Matrix m = view(p, 4, 3, (r, c) -> -1);
        m.setRowsTo(row);
        for (int r = 0; r < 4; r++) {
            for (int c = 0; c < 3; c++) assertEquals(7 + c, m.get(r, c), 0);
        }
        assertPaddingIntact(m);
        assertThrows(IllegalArgumentException.class, () -> m.setRowsTo(view(p, 1, 2, (r, c) -> 0)));
    }

    /** The ReLU mask with its column sums added: reluMask then addColumnSumsTo, bit for bit. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void reluMaskAddColumnSumsIsMaskThenAddColumnSumsBitForBit(Precision p) {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        int cols = 6;
        Matrix act = randomView(p, 5, cols, rnd);
        Matrix g = randomView(p, 5, cols, rnd);
        Matrix expected = view(p, 5, cols, (r, c) -> 0);
        expected.copyFrom(g);
        expected.reluMask(act);
        Matrix expectedSums = randomView(p, 1, cols, new java.util.SplittableRandom(3));
        expected.addColumnSumsTo(expectedSums);
        Matrix sums = randomView(p, 1, cols, new java.util.SplittableRandom(3));
        g.reluMaskAddColumnSums(act, sums);
        assertSameBits(expected, g);
        assertSameBits(expectedSums, sums);
        assertPaddingIntact(g);
        assertPaddingIntact(sums);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void addColumnSumsToAccumulatesIntoAnOffsetVector(Precision p) {
        Matrix m = view(p, 3, 4, (r, c) -> r * 4 + c);
        Matrix out = view(p, 1, 4, (r, c) -> 100);
        m.addColumnSumsTo(out);
        for (int c = 0; c < 4; c++) assertEquals(100 + (c + (4 + c) + (8 + c)), out.get(0, c), 0);
        assertPaddingIntact(out);
    }

    /**
     * The branch-free float32 mask equals the select {@code a > 0 ? d : 0} bit for bit down to the
     * smallest positive activations, except that a -0 gradient where the unit is active comes out +0
     * (which no sum it enters can tell apart).
     */
    @Test
    void float32ReluMaskEqualsTheSelect() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(5);
        float[] special = {0f, -0f, Float.MIN_VALUE, 2 * Float.MIN_VALUE, Float.MIN_NORMAL, -Float.MIN_VALUE, 1e-30f, 1f,
                Float.MAX_VALUE, Float.POSITIVE_INFINITY, -1f, Float.NEGATIVE_INFINITY};
        int n = 3001;
        FloatMatrix act = new FloatMatrix(1, n), d = new FloatMatrix(1, n);
        float[] want = new float[n];
        for (int i = 0; i < n; i++) {
            float a = i < special.length ? special[i] : (float) random.nextGaussian();
            float g = i % 7 == 0 ? -0f : i % 11 == 0 ? 0f : (float) random.nextGaussian();
            act.set(0, i, a);
            d.set(0, i, g);
            want[i] = a > 0f ? g + 0f : 0f;
        }
        d.reluMask(act);
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits((float) d.get(0, i)), "element " + i);
        }
    }

    /**
     * A large float32 vector's sum of squares (double lanes, chunk by chunk): to double rounding of the exact sum, on a
     * view at an odd offset, over lengths around the lane path's threshold and its chunks, and the same bits every time.
     */
    @Test
    void float32SumOfSquaresOfLargeVectors() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        for (int n : new int[]{4095, 4096, 4097, 4096 + 255, 4096 + 256, 100_003}) {
            FloatMatrix m = new FloatMatrix(1, n + 3).slice(3, 1, n);
            java.math.BigDecimal exact = java.math.BigDecimal.ZERO;
            for (int i = 0; i < n; i++) {
                float v = (float) ((random.nextDouble() - 0.5) * Math.exp(6 * random.nextDouble()));
                m.set(0, i, v);
                exact = exact.add(new java.math.BigDecimal((double) v * v)); // a float's square is exact in double
            }
            double got = m.sumOfSquares();
            assertEquals(exact.doubleValue(), got, 1e-13 * exact.doubleValue(), "length " + n);
            assertEquals(Double.doubleToRawLongBits(got), Double.doubleToRawLongBits(m.sumOfSquares()), "length " + n + ", again");
        }
    }

    /** Four running sums in float32: the sum of squares to double rounding, over lengths around the unrolling. */
    @Test
    void float32SumOfSquaresOverAnyLength() {
        for (int n = 0; n < 10; n++) {
            FloatMatrix m = new FloatMatrix(1, n + 2).slice(1, 1, n);
            double want = 0;
            for (int i = 0; i < n; i++) {
                m.set(0, i, 0.5f + i);
                want += (0.5 + i) * (0.5 + i);
            }
            assertEquals(want, m.sumOfSquares(), 1e-12 * Math.max(1, want), "length " + n);
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void reluMaskZeroesWhereActivationIsNotPositive(Precision p) {
        Matrix act = view(p, 2, 3, (r, c) -> (r * 3 + c) % 3 - 1);   // -1, 0, 1 per row
        Matrix g = view(p, 2, 3, (r, c) -> 5 + r + c);
        g.reluMask(act);
        for (int r = 0; r < 2; r++) {
            assertEquals(0, g.get(r, 0), 0);
            assertEquals(0, g.get(r, 1), 0, "ReLU'(0) is taken as 0");
            assertEquals(5 + r + 2, g.get(r, 2), 0);
        }
        assertPaddingIntact(g);
        Matrix h = view(p, 2, 3, (r, c) -> c - 1);
        h.reluInPlace();
        assertEquals(0, h.get(1, 0), 0);
        assertEquals(1, h.get(1, 2), 0);
        assertPaddingIntact(h);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void slicesAndTopRowsAreViewsAtTheRightOffset(Precision p) {
        Matrix m = view(p, 4, 3, (r, c) -> r * 3 + c);
        Matrix top = m.topRows(2);
        assertEquals(m.offset(), top.offset());
        assertEquals(2, top.rows());
        assertEquals(5, top.get(1, 2), 0);
        Matrix s = m.slice(4, 2, 2);   // elements 4..7 of the view as 2x2
        assertEquals(m.offset() + 4, s.offset());
        assertEquals(4, s.get(0, 0), 0);
        assertEquals(7, s.get(1, 1), 0);
        s.fill(-1);
        assertEquals(-1, m.getFlat(4), 0);
        assertEquals(-1, m.getFlat(7), 0);
        assertEquals(3, m.getFlat(3), 0);
        assertEquals(8, m.getFlat(8), 0);
        Matrix sub = s.slice(1, 1, 2);   // a slice of a slice accumulates offsets
        assertEquals(m.offset() + 5, sub.offset());
        top.scale(2);
        assertEquals(4, m.get(0, 2), 0);
        assertEquals(9, m.get(3, 0), 0, "scale on topRows must stop at the view");
        assertPaddingIntact(m);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void addRowVectorAxpyAndGemmRespectOffsets(Precision p) {
        Matrix m = view(p, 2, 3, (r, c) -> r);
        Matrix bias = view(p, 1, 3, (r, c) -> c);
        m.addRowVector(bias);
        assertEquals(1 + 2, m.get(1, 2), 0);
        Matrix x = view(p, 2, 3, (r, c) -> 1);
        m.axpy(-1, x);
        assertEquals(2, m.get(1, 2), 0);
        assertEquals(7, m.sumOfSquares(), 1e-9);   // rows (-1,0,1) and (0,1,2)
        // gemm over offset views: (2x3) * (3x2)^T-free product
        Matrix a = view(p, 2, 3, (r, c) -> r + c);
        Matrix b = view(p, 3, 2, (r, c) -> r == c ? 1 : 0);
        Matrix out = view(p, 2, 2, (r, c) -> 7);
        GemmBackend before = GemmBackends.current();
        try {
            for (GemmBackend backend : GemmBackends.available()) {
                GemmBackends.use(backend);
                out.gemm(1, a, false, b, false, 0);
                assertEquals(0, out.get(0, 0), 0, backend.name());
                assertEquals(2, out.get(1, 1), 0, backend.name());
                out.gemm(1, b, true, a, true, 1);   // += (a b)^T
                assertEquals(1 + 1, out.get(0, 1), 0, backend.name());
                assertPaddingIntact(out);
            }
        } finally {
            GemmBackends.use(before);
        }
        assertThrows(IllegalArgumentException.class, () -> out.gemm(1, a, true, b, false, 0));
    }

    @Test
    void viewsOutsideTheArrayAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new FloatMatrix(new float[5], 2, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> new DoubleMatrix(new double[4], -1, 1, 1));
    }

    /** The fused bias + ReLU pass gives exactly what the two passes give. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void fusedBiasReluMatchesBiasThenRelu(Precision precision) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(4);
        Matrix a = precision.zeros(5, 7);
        Matrix bias = precision.zeros(1, 7);
        for (int i = 0; i < a.size(); i++) a.setFlat(i, r.nextDouble() * 2 - 1);
        for (int i = 0; i < bias.size(); i++) bias.setFlat(i, r.nextDouble() - 0.5);
        Matrix twoPasses = a.copy();
        twoPasses.addRowVector(bias);
        twoPasses.reluInPlace();
        a.addRowVectorRelu(bias);
        for (int i = 0; i < a.size(); i++) {
            assertEquals(Double.doubleToRawLongBits(twoPasses.getFlat(i)), Double.doubleToRawLongBits(a.getFlat(i)), "element " + i);
        }
    }
}
