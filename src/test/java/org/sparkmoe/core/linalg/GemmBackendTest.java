package org.sparkmoe.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every back end that loads here against the {@link JavaGemm} loop oracle, on views that exercise
 * the row-major contract: offsets, leading dimensions wider than the view, every transpose pair,
 * alpha/beta other than 0/1, both precisions. Padding around each view is filled with a sentinel
 * and must come back untouched.
 */
class GemmBackendTest {
    private static final float SENTINEL = -777f;

    static Stream<GemmBackend> backends() {
        return GemmBackends.available().stream();
    }

    /** One randomly laid-out operand: rows x cols inside a larger array at off with stride ld. */
    private record Layout(int off, int ld, int rows, int cols, int length) {
        static Layout random(SplittableRandom r, int rows, int cols, boolean dense) {
            if (dense) {
                return new Layout(0, cols, rows, cols, rows * cols);
            }
            int off = r.nextInt(0, 9);
            int ld = cols + r.nextInt(0, 6);
            int length = off + (rows == 0 ? 0 : (rows - 1) * ld + cols) + r.nextInt(0, 5);
            return new Layout(off, ld, rows, cols, length);
        }

        boolean inside(int i) {
            int rel = i - off;
            return rel >= 0 && rows > 0 && cols > 0 && rel / ld < rows && rel % ld < cols;
        }

        float[] floats(SplittableRandom r) {
            float[] x = new float[length];
            for (int i = 0; i < length; i++) x[i] = inside(i) ? (float) (r.nextDouble() * 2 - 1) : SENTINEL;
            return x;
        }

        double[] doubles(SplittableRandom r) {
            double[] x = new double[length];
            for (int i = 0; i < length; i++) x[i] = inside(i) ? r.nextDouble() * 2 - 1 : SENTINEL;
            return x;
        }
    }

    private static final int[][] FIXED_SHAPES = {
        {1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 4, 1}, {33, 35, 31}, {64, 48, 80}, {70, 130, 40}, {128, 96, 160},
    };

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sgemmMatchesLoopOracle(GemmBackend backend) {
        SplittableRandom r = new SplittableRandom(11);
        int cases = 0;
        for (int trial = 0; trial < 24; trial++) {
            int[] s = trial < FIXED_SHAPES.length ? FIXED_SHAPES[trial]
                    : new int[] {r.nextInt(1, 90), r.nextInt(1, 90), r.nextInt(1, 90)};
            for (int t = 0; t < 4; t++) {
                // Dense, exactly-sized operands with alpha 1 / beta 0 hit ojAlgo's no-copy wrap path.
                boolean dense = trial % 3 == 0;
                checkS(backend, r, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, dense,
                        dense && trial % 2 == 0 ? 1f : 0.75f, dense && trial % 2 == 0 ? 0f : -0.5f);
                cases++;
            }
        }
        assertEquals(96, cases);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void dgemmMatchesLoopOracle(GemmBackend backend) {
        SplittableRandom r = new SplittableRandom(12);
        for (int trial = 0; trial < 24; trial++) {
            int[] s = trial < FIXED_SHAPES.length ? FIXED_SHAPES[trial]
                    : new int[] {r.nextInt(1, 90), r.nextInt(1, 90), r.nextInt(1, 90)};
            for (int t = 0; t < 4; t++) {
                boolean dense = trial % 3 == 0;
                checkD(backend, r, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0, dense,
                        dense && trial % 2 == 0 ? 1 : 1.25, dense && trial % 2 == 0 ? 0 : 0.5);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void alphaBetaEdgeCasesAndEmptyShapes(GemmBackend backend) {
        SplittableRandom r = new SplittableRandom(13);
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                checkS(backend, r, 9, 10, 11, ta, tb, false, 0f, 2f);   // alpha 0: C = beta C
                checkS(backend, r, 9, 10, 11, ta, tb, false, 2f, 1f);   // accumulate
                checkS(backend, r, 9, 10, 0, ta, tb, false, 1f, 3f);    // k = 0: C = beta C
                checkS(backend, r, 0, 10, 5, ta, tb, false, 1f, 0f);    // nothing to do
                checkD(backend, r, 9, 10, 0, ta, tb, false, 1, 0);
                checkD(backend, r, 4, 0, 5, ta, tb, false, 1, 0.5);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void betaZeroDoesNotReadC(GemmBackend backend) {
        float[] a = {1, 2, 3, 4};
        float[] b = {1, 0, 0, 1};
        float[] c = {Float.NaN, Float.NaN, Float.NaN, Float.NaN, 9};
        backend.sgemm(false, false, 2, 2, 2, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2);
        assertEquals(List.of(1f, 2f, 3f, 4f, 9f), List.of(c[0], c[1], c[2], c[3], c[4]));
        double[] cd = {Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        backend.dgemm(true, false, 2, 2, 2, 2, new double[] {1, 2, 3, 4}, 0, 2, new double[] {1, 0, 0, 1}, 0, 2, 0, cd, 0, 2);
        assertEquals(List.of(2d, 6d, 4d, 8d), List.of(cd[0], cd[1], cd[2], cd[3]));
    }

    /** Repeated calls with alternating shapes reuse ojAlgo's per-thread scratch; results must not leak between them. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void repeatedShapesStayCorrect(GemmBackend backend) {
        SplittableRandom r = new SplittableRandom(14);
        for (int rep = 0; rep < 3; rep++) {
            for (int[] s : new int[][] {{40, 24, 56}, {40, 56, 24}, {24, 56, 40}}) {
                checkS(backend, r, s[0], s[1], s[2], rep == 1, rep == 2, false, 1f, 0f);
            }
        }
    }

    private static void checkS(GemmBackend backend, SplittableRandom r, int m, int n, int k, boolean ta, boolean tb,
                               boolean dense, float alpha, float beta) {
        Layout la = ta ? Layout.random(r, k, m, dense) : Layout.random(r, m, k, dense);
        Layout lb = tb ? Layout.random(r, n, k, dense) : Layout.random(r, k, n, dense);
        Layout lc = Layout.random(r, m, n, dense);
        float[] a = la.floats(r), b = lb.floats(r), c = lc.floats(r);
        float[] expected = c.clone();
        float[] aCopy = a.clone(), bCopy = b.clone();
        JavaGemm.INSTANCE.sgemm(ta, tb, m, n, k, alpha, a, la.off, la.ld, b, lb.off, lb.ld, beta, expected, lc.off, lc.ld);
        backend.sgemm(ta, tb, m, n, k, alpha, a, la.off, la.ld, b, lb.off, lb.ld, beta, c, lc.off, lc.ld);
        String what = backend.name() + " sgemm " + m + "x" + n + "x" + k + " tA=" + ta + " tB=" + tb + " dense=" + dense
                + " alpha=" + alpha + " beta=" + beta;
        double tol = 1e-5 * (k + 1);
        for (int i = 0; i < c.length; i++) {
            if (lc.inside(i)) {
                assertEquals(expected[i], c[i], tol, what + " at " + i);
            } else {
                assertEquals(SENTINEL, c[i], what + ": wrote outside the C view at " + i);
            }
        }
        assertTrue(java.util.Arrays.equals(aCopy, a) && java.util.Arrays.equals(bCopy, b), what + ": modified an input");
    }

    private static void checkD(GemmBackend backend, SplittableRandom r, int m, int n, int k, boolean ta, boolean tb,
                               boolean dense, double alpha, double beta) {
        Layout la = ta ? Layout.random(r, k, m, dense) : Layout.random(r, m, k, dense);
        Layout lb = tb ? Layout.random(r, n, k, dense) : Layout.random(r, k, n, dense);
        Layout lc = Layout.random(r, m, n, dense);
        double[] a = la.doubles(r), b = lb.doubles(r), c = lc.doubles(r);
        double[] expected = c.clone();
        JavaGemm.INSTANCE.dgemm(ta, tb, m, n, k, alpha, a, la.off, la.ld, b, lb.off, lb.ld, beta, expected, lc.off, lc.ld);
        backend.dgemm(ta, tb, m, n, k, alpha, a, la.off, la.ld, b, lb.off, lb.ld, beta, c, lc.off, lc.ld);
        String what = backend.name() + " dgemm " + m + "x" + n + "x" + k + " tA=" + ta + " tB=" + tb + " dense=" + dense;
        for (int i = 0; i < c.length; i++) {
            if (lc.inside(i)) {
                assertEquals(expected[i], c[i], 1e-12 * (k + 1), what + " at " + i);
            } else {
                assertEquals(SENTINEL, c[i], what + ": wrote outside the C view at " + i);
            }
        }
    }

    @Test
    void availableAlwaysHasOjAlgoAndTheOracle() {
        List<String> names = GemmBackends.available().stream().map(GemmBackend::name).toList();
        assertTrue(names.contains("ojalgo"), names.toString());
        assertTrue(names.contains("java"), names.toString());
        assertEquals(names.size(), names.stream().distinct().count(), names.toString());
    }

    @Test
    void selectionByName() {
        assertSame(OjAlgoGemm.INSTANCE, GemmBackends.select("ojalgo"));
        assertSame(JavaGemm.INSTANCE, GemmBackends.select(" Java "));
        assertThrows(IllegalArgumentException.class, () -> GemmBackends.select("mkl"));
        for (GemmBackend b : GemmBackends.available()) {
            assertSame(b, GemmBackends.byName(b.name()));
        }
    }

    @Test
    void autoPicksALoadableBackend() {
        GemmBackend chosen = GemmBackends.select("auto");
        assertTrue(GemmBackends.available().contains(chosen), chosen.name());
        assertFalse(chosen instanceof JavaGemm, "the loop oracle is never auto-selected");
    }

    @Test
    void useSwitchesTheProcessWideBackend() {
        GemmBackend before = GemmBackends.current();
        try {
            GemmBackends.use(JavaGemm.INSTANCE);
            assertSame(JavaGemm.INSTANCE, GemmBackends.current());
        } finally {
            GemmBackends.use(before);
        }
    }
}
