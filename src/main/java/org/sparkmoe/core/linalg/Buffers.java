package org.sparkmoe.core.linalg;

/** Growable reusable row buffers: allocate on the first large batch, then reuse every step. */
public final class Buffers {
    private Buffers() {
    }

    /**
     * Returns {@code current} if it has at least {@code rows} rows of {@code cols}, else a new zero
     * buffer 1.5x larger. Contents are not preserved across growth.
     */
    public static Matrix ensureRows(Matrix current, Precision precision, int rows, int cols) {
        if (current != null && current.rows() >= rows && current.cols() == cols && current.precision() == precision) {
            return current;
        }
        int have = current == null ? 0 : current.rows();
        return precision.zeros(Math.max(rows, Math.max(16, have + (have >> 1))), cols);
    }

    /** Same for a plain int array. */
    public static int[] ensure(int[] current, int length) {
        return current != null && current.length >= length ? current : new int[Math.max(length, current == null ? 16 : current.length + (current.length >> 1))];
    }

    /** Same for a plain double array. */
    public static double[] ensure(double[] current, int length) {
        return current != null && current.length >= length ? current : new double[Math.max(length, current == null ? 16 : current.length + (current.length >> 1))];
    }
}
