package org.sparkmoe.core.linalg;

import java.util.LinkedHashMap;
import java.util.Map;

import org.ojalgo.matrix.store.R032Store;
import org.ojalgo.matrix.store.R064Store;

/**
 * {@link GemmBackend} on ojAlgo's dense stores: {@link R032Store} for float32, {@link R064Store}
 * for float64. Always available (ojAlgo is a compile dependency), so it is the pure-Java fallback
 * when no native BLAS links.
 *
 * <p>ojAlgo stores are column-major and only multiply at full speed when both operands are plain
 * stores of exactly the right size (anything else goes through per-element access). A dense
 * row-major array is a column-major store of the transpose, so we compute
 * {@code C^T = op(B)^T op(A)^T}: an operand that is untransposed, starts at 0, has {@code ld} equal
 * to its width and fills its array exactly is wrapped without copying; everything else (views at
 * an offset, the first rows of a larger buffer, transposes) is copied into per-thread scratch
 * stores that are kept per shape and reused, so a training loop that repeats its shapes allocates
 * nothing after the first step. The product is written straight into {@code c} when it can be
 * wrapped and alpha = 1, beta = 0; otherwise it lands in scratch and is folded into {@code c}.
 */
public final class OjAlgoGemm implements GemmBackend {

    /** Shared instance; holds no state other than per-thread scratch. */
    public static final OjAlgoGemm INSTANCE = new OjAlgoGemm();

    /** Scratch stores kept per thread and role; an expert step cycles through ~6 shapes per role. */
    private static final int SHAPES_PER_ROLE = 8;
    private static final int LEFT = 0, RIGHT = 1, PRODUCT = 2;
    private static final int TRANSPOSE_BLOCK = 32;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private OjAlgoGemm() {
    }

    @Override
    public String name() {
        return "ojalgo";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0f) {
            GemmBackends.scale(beta, c, cOff, ldc, m, n);
            return;
        }
        Scratch s = SCRATCH.get();
        // left = op(B)^T as a column-major n x k store: element (j, p) at [p * n + j] = op(B)(p, j).
        R032Store left;
        if (!transB && bOff == 0 && ldb == n && b.length == (long) k * n) {
            left = R032Store.wrap(b, n);
        } else {
            left = s.f32(LEFT, n, k);
            if (transB) {
                transpose(b, bOff, ldb, n, k, left.data);
            } else {
                for (int p = 0; p < k; p++) System.arraycopy(b, bOff + p * ldb, left.data, p * n, n);
            }
        }
        // right = op(A)^T as a column-major k x m store: element (p, i) at [i * k + p] = op(A)(i, p).
        R032Store right;
        if (!transA && aOff == 0 && lda == k && a.length == (long) m * k) {
            right = R032Store.wrap(a, k);
        } else {
            right = s.f32(RIGHT, k, m);
            if (transA) {
                transpose(a, aOff, lda, k, m, right.data);
            } else {
                for (int i = 0; i < m; i++) System.arraycopy(a, aOff + i * lda, right.data, i * k, k);
            }
        }
        // product = C^T column-major n x m: element (j, i) at [i * n + j] = C(i, j), i.e. C row-major.
        if (alpha == 1f && beta == 0f && cOff == 0 && ldc == n && c.length == (long) m * n) {
            R032Store.wrap(c, n).fillByMultiplying(left, right);
            return;
        }
        R032Store product = s.f32(PRODUCT, n, m);
        product.fillByMultiplying(left, right);
        float[] pd = product.data;
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            int pi = i * n;
            if (beta == 0f) {
                // BLAS semantics: with beta = 0 the old C is not read, so NaN/garbage in it does not leak.
                for (int j = 0; j < n; j++) c[ci + j] = alpha * pd[pi + j];
            } else {
                for (int j = 0; j < n; j++) c[ci + j] = alpha * pd[pi + j] + beta * c[ci + j];
            }
        }
    }

    @Override
    public void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
                      double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
                      double beta, double[] c, int cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0d) {
            GemmBackends.scale(beta, c, cOff, ldc, m, n);
            return;
        }
        Scratch s = SCRATCH.get();
        R064Store left;
        if (!transB && bOff == 0 && ldb == n && b.length == (long) k * n) {
            left = R064Store.wrap(b, n);
        } else {
            left = s.f64(LEFT, n, k);
            if (transB) {
                transpose(b, bOff, ldb, n, k, left.data);
            } else {
                for (int p = 0; p < k; p++) System.arraycopy(b, bOff + p * ldb, left.data, p * n, n);
            }
        }
        R064Store right;
        if (!transA && aOff == 0 && lda == k && a.length == (long) m * k) {
            right = R064Store.wrap(a, k);
        } else {
            right = s.f64(RIGHT, k, m);
            if (transA) {
                transpose(a, aOff, lda, k, m, right.data);
            } else {
                for (int i = 0; i < m; i++) System.arraycopy(a, aOff + i * lda, right.data, i * k, k);
            }
        }
        if (alpha == 1d && beta == 0d && cOff == 0 && ldc == n && c.length == (long) m * n) {
            R064Store.wrap(c, n).fillByMultiplying(left, right);
            return;
        }
        R064Store product = s.f64(PRODUCT, n, m);
        product.fillByMultiplying(left, right);
        double[] pd = product.data;
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            int pi = i * n;
            if (beta == 0d) {
                for (int j = 0; j < n; j++) c[ci + j] = alpha * pd[pi + j];
            } else {
                for (int j = 0; j < n; j++) c[ci + j] = alpha * pd[pi + j] + beta * c[ci + j];
            }
        }
    }

    /**
     * dst (cols x rows, dense row-major) = transpose of src (rows x cols at off, row stride ld).
     * Blocked so that both the strided reads and the strided writes stay within a few cache lines.
     */
    static void transpose(float[] src, int off, int ld, int rows, int cols, float[] dst) {
        for (int r0 = 0; r0 < rows; r0 += TRANSPOSE_BLOCK) {
            int r1 = Math.min(rows, r0 + TRANSPOSE_BLOCK);
            for (int c0 = 0; c0 < cols; c0 += TRANSPOSE_BLOCK) {
                int c1 = Math.min(cols, c0 + TRANSPOSE_BLOCK);
                for (int r = r0; r < r1; r++) {
                    int so = off + r * ld;
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[so + c];
                }
            }
        }
    }

    static void transpose(double[] src, int off, int ld, int rows, int cols, double[] dst) {
        for (int r0 = 0; r0 < rows; r0 += TRANSPOSE_BLOCK) {
            int r1 = Math.min(rows, r0 + TRANSPOSE_BLOCK);
            for (int c0 = 0; c0 < cols; c0 += TRANSPOSE_BLOCK) {
                int c1 = Math.min(cols, c0 + TRANSPOSE_BLOCK);
                for (int r = r0; r < r1; r++) {
                    int so = off + r * ld;
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[so + c];
                }
            }
        }
    }

    @Override
    public String toString() {
        return name();
    }

    /**
     * One thread's scratch stores, per role (left, right, product) and exact shape: ojAlgo's
     * multiply takes its dimensions from the store sizes, so a larger buffer cannot stand in.
     * Bounded LRU per role so that a burst of odd shapes cannot pin unbounded memory.
     */
    private static final class Scratch {
        private final Map<Long, R032Store>[] f32 = lruMaps();
        private final Map<Long, R064Store>[] f64 = lruMaps();

        R032Store f32(int role, int rows, int cols) {
            return f32[role].computeIfAbsent(key(rows, cols), x -> R032Store.wrap(new float[rows * cols], rows));
        }

        R064Store f64(int role, int rows, int cols) {
            return f64[role].computeIfAbsent(key(rows, cols), x -> R064Store.wrap(new double[rows * cols], rows));
        }

        private static long key(int rows, int cols) {
            return ((long) rows << 32) | (cols & 0xffffffffL);
        }

        @SuppressWarnings("unchecked")
        private static <T> Map<Long, T>[] lruMaps() {
            Map<Long, T>[] maps = new Map[3];
            for (int i = 0; i < maps.length; i++) {
                maps[i] = new LinkedHashMap<>(16, 0.75f, true) {
                    @Override
                    protected boolean removeEldestEntry(Map.Entry<Long, T> eldest) {
                        return size() > SHAPES_PER_ROLE;
                    }
                };
            }
            return maps;
        }
    }
}
