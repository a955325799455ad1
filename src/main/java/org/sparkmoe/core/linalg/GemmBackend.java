package org.sparkmoe.core.linalg;

/**
 * General matrix multiply on row-major arrays: {@code C = alpha * op(A) * op(B) + beta * C} with
 * {@code op(A)} of shape m x k and {@code op(B)} of shape k x n. {@code lda}, {@code ldb},
 * {@code ldc} are the row strides of the arrays as stored (before the transpose).
 *
 * <p>All useful work of an expert is GEMM, so this is the one seam where a faster implementation
 * (native BLAS) is swapped in; see {@link GemmBackends}.
 */
public interface GemmBackend {

    /** Short name used in logs and benchmark tables. */
    String name();

    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
               float beta, float[] c, int cOff, int ldc);

    void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
               double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
               double beta, double[] c, int cOff, int ldc);
}
