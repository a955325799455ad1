package org.sparkmoe.core.linalg;

import dev.ludovic.netlib.blas.BLAS;
import dev.ludovic.netlib.blas.JavaBLAS;
import dev.ludovic.netlib.blas.NativeBLAS;

/**
 * {@link GemmBackend} over {@code dev.ludovic.netlib} BLAS, the wrapper Spark MLlib already ships
 * (it is a {@code provided} dependency: this class is only touched after {@link GemmBackends} has
 * checked that it links). {@link #nativeBlas()} goes through JNI to the system {@code libblas.so.3}
 * (OpenBLAS on Debian with {@code libopenblas0-pthread}); {@link #javaBlas()} is netlib's pure-Java
 * implementation (VectorBLAS when {@code jdk.incubator.vector} is enabled).
 *
 * <p>BLAS is column-major, our arrays are row-major. A row-major array with row stride {@code ld} is,
 * read column-major with the same leading dimension, the transpose of the matrix. So row-major
 * {@code C = op(A) op(B)} is column-major {@code C^T = op(B)^T op(A)^T}: swap the operands and m/n,
 * keep the transpose flags. No copies are made; the offset overloads address views directly.
 */
public final class NetlibGemm implements GemmBackend {
    private final BLAS blas;
    private final String name;

    private NetlibGemm(BLAS blas, String name) {
        this.blas = blas;
        this.name = name;
    }

    /**
     * The JNI back end over the system {@code libblas.so.3}.
     *
     * @throws RuntimeException or {@link LinkageError} when no native BLAS can be loaded
     */
    public static NetlibGemm nativeBlas() {
        return new NetlibGemm(NativeBLAS.getInstance(), "netlib-native");
    }

    /** netlib's pure-Java BLAS (VectorBLAS, Java11BLAS or F2J depending on the JVM). */
    public static NetlibGemm javaBlas() {
        return new NetlibGemm(JavaBLAS.getInstance(), "netlib-java");
    }

    @Override
    public String name() {
        return name;
    }

    /** The concrete netlib class, for logs: tells VectorBLAS from the scalar fallbacks. */
    public String implementation() {
        return blas.getClass().getSimpleName();
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc) {
        // netlib rejects ld < 1 even for empty operands, which our row-major views produce (0 columns).
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0f) {
            GemmBackends.scale(beta, c, cOff, ldc, m, n);
            return;
        }
        blas.sgemm(transB ? "T" : "N", transA ? "T" : "N", n, m, k, alpha,
                b, bOff, ldb, a, aOff, lda, beta, c, cOff, ldc);
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
        blas.dgemm(transB ? "T" : "N", transA ? "T" : "N", n, m, k, alpha,
                b, bOff, ldb, a, aOff, lda, beta, c, cOff, ldc);
    }

    @Override
    public String toString() {
        return name + "(" + implementation() + ")";
    }
}
