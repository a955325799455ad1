package org.sparkmoe.core.linalg;

import java.util.Arrays;

/**
 * The Java-serialization form of a {@link Matrix}: the shape and the view's elements in its precision
 * (float32 stays 4 bytes a value). A view covering its whole backing array is written without a copy;
 * any other view copies only its own elements. Read back as a matrix owning a fresh array.
 */
final class MatrixSerial implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final int rows;
    private final int cols;
    private final float[] f32;
    private final double[] f64;

    MatrixSerial(FloatMatrix m) {
        rows = m.rows();
        cols = m.cols();
        float[] d = m.data();
        f32 = m.offset() == 0 && m.size() == d.length ? d : Arrays.copyOfRange(d, m.offset(), m.offset() + m.size());
        f64 = null;
    }

    MatrixSerial(DoubleMatrix m) {
        rows = m.rows();
        cols = m.cols();
        double[] d = m.data();
        f64 = m.offset() == 0 && m.size() == d.length ? d : Arrays.copyOfRange(d, m.offset(), m.offset() + m.size());
        f32 = null;
    }

    private Object readResolve() throws java.io.InvalidObjectException {
        int n = f32 != null ? f32.length : f64 != null ? f64.length : -1;
        if (rows < 0 || cols < 0 || (long) rows * cols != n) {
            throw new java.io.InvalidObjectException("matrix " + rows + "x" + cols + " with " + n + " serialized values");
        }
        return f32 != null ? new FloatMatrix(f32, 0, rows, cols) : new DoubleMatrix(f64, 0, rows, cols);
    }
}
