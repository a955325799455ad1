package org.sparkmoe.core.linalg;

/**
 * Storage and arithmetic precision of a {@link Matrix}. Training runs in {@link #F32} (the hot
 * path: half the memory traffic, twice the SIMD width); gradient checks and the engine-vs-reference
 * comparisons run the same code in {@link #F64}.
 */
public enum Precision {
    F32, F64;

    /** A new zero matrix of this precision. */
    public Matrix zeros(int rows, int cols) {
        return this == F32 ? new FloatMatrix(rows, cols) : new DoubleMatrix(rows, cols);
    }
}
