package org.sparkmoe.core.linalg;

/**
 * A dense row-major matrix view over a primitive array (float or double), possibly at an offset
 * inside a larger array (a slice of a flat parameter vector, or the first rows of a reusable
 * buffer). Operations are coarse-grained (GEMM, row gathers and scatters, bias, ReLU) so that the
 * layers above are written once for both precisions without per-element virtual calls on the hot
 * path; {@link #get}/{@link #set} are for small, cold work (gating over n experts, tests).
 *
 * <p>Serializable for Spark's Java serializer: a matrix travels as its shape and its own elements
 * (a view does not drag its whole backing array along), see {@link MatrixSerial}. Kryo uses the
 * engine's versioned serializers instead.
 */
public abstract sealed class Matrix implements java.io.Serializable permits FloatMatrix, DoubleMatrix {
    private static final long serialVersionUID = 1L;

    protected final int rows;
    protected final int cols;
    protected final int offset;

    protected Matrix(int rows, int cols, int offset) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("negative shape " + rows + "x" + cols);
        }
        this.rows = rows;
        this.cols = cols;
        this.offset = offset;
    }

    public final int rows() {
        return rows;
    }

    public final int cols() {
        return cols;
    }

    /** rows * cols. */
    public final int size() {
        return rows * cols;
    }

    /** Where element (0,0) sits in the backing array. */
    public final int offset() {
        return offset;
    }

    public abstract Precision precision();

    public abstract double get(int r, int c);

    public abstract void set(int r, int c, double v);

    public abstract void add(int r, int c, double v);

    /** Element {@code i} in row-major order. */
    public abstract double getFlat(int i);

    public abstract void setFlat(int i, double v);

    /** A view of the first {@code m} rows, sharing storage. */
    public abstract Matrix topRows(int m);

    /** A view of {@code rows x cols} elements starting {@code start} elements after this one's start. */
    public abstract Matrix slice(int start, int rows, int cols);

    /** A new zero matrix of the same shape and precision. */
    public final Matrix zerosLike() {
        return precision().zeros(rows, cols);
    }

    /** A new matrix with the same shape and contents. */
    public final Matrix copy() {
        Matrix m = zerosLike();
        m.copyFrom(this);
        return m;
    }

    public abstract void fill(double v);

    /** Copies {@code src} (same shape, any precision) into this. */
    public abstract void copyFrom(Matrix src);

    /** this += alpha * x (same shape, same precision). */
    public abstract void axpy(double alpha, Matrix x);

    public abstract void scale(double alpha);

    /** Sum of squared elements, accumulated in double. */
    public abstract double sumOfSquares();

    /**
     * this = alpha * op(a) * op(b) + beta * this, through the current {@link GemmBackends} back end.
     * All three must share this matrix's precision.
     */
    public abstract void gemm(double alpha, Matrix a, boolean transA, Matrix b, boolean transB, double beta);

    /** Sets every row to the 1 x cols row vector {@code row}. */
    public abstract void setRowsTo(Matrix row);

    /** Adds the 1 x cols row vector {@code bias} to every row. */
    public abstract void addRowVector(Matrix bias);

    /** max(0, v) element-wise. */
    public abstract void reluInPlace();

    /**
     * {@code this = max(this + bias, 0)} with {@code bias} added to every row: the hidden layer's
     * bias and ReLU in one pass over the activations (the same values as
     * {@link #addRowVector} then {@link #reluInPlace}).
     */
    public abstract void addRowVectorRelu(Matrix bias);

    /** Zeroes the elements where {@code activation} (same shape) is not positive: the ReLU backward mask. */
    public abstract void reluMask(Matrix activation);

    /**
     * {@link #reluMask} then {@link #addColumnSumsTo}{@code (columnSums)}, in one pass: the same values,
     * without reading the masked gradient a second time (the hidden layer's bias gradient).
     */
    public abstract void reluMaskAddColumnSums(Matrix activation, Matrix columnSums);

    /** {@code out} (1 x cols) += the column sums of this: bias gradients. */
    public abstract void addColumnSumsTo(Matrix out);

    /** Row r of this = row {@code index[from + r]} of {@code src}, for r in [0, count). */
    public abstract void gatherRows(Matrix src, int[] index, int from, int count);

    /**
     * Row {@code index[from + r]} of this += {@code scale[from + r]} * row r of {@code src}, for r in
     * [0, count); {@code scale} may be null for 1.
     */
    public abstract void scatterAddRows(Matrix src, int[] index, int from, int count, double[] scale);

    /**
     * The combine of a dispatch (paper eq. 1's weighted sum), written row by row: row r of this = the
     * sum over the entries {@code q = entryOf[r * slots + j] >= 0} ({@code j < slots}) of
     * {@code scale[q]} (1 when null) times row q of {@code src}, added from zero in ascending q, then
     * row r of {@code residual} when it is non-null. The same values as {@code fill(0)},
     * {@link #scatterAddRows} of the entries in ascending order and {@code axpy(1, residual)}, in one
     * pass that writes each row once instead of clearing it and adding into it k + 1 times.
     */
    public abstract void sumRowsOf(Matrix src, int[] entryOf, int slots, double[] scale, Matrix residual);

    /**
     * The backward of a gated dispatch in one read of the upstream gradient: for r in [0, count), row
     * r of this = {@code scale[from + r]} times row {@code index[from + r]} of {@code src} (what
     * {@link #gatherRows} then {@link #scaleRows} give), and {@code dots[r]} = that row of {@code src},
     * unscaled, dotted with row r of {@code other} (what {@link #dotRows} gives, bit for bit).
     */
    public final void gatherScaledRowsDot(Matrix src, int[] index, int from, int count, double[] scale, Matrix other,
                                          double[] dots) {
        gatherScaledRowsDot(src, index, from, count, scale, other, dots, null);
    }

    /**
     * {@link #gatherScaledRowsDot(Matrix, int[], int, int, double[], Matrix, double[])}, then, when
     * {@code columnSums} is non-null, {@link #addColumnSumsTo}{@code (columnSums)} over the rows written:
     * the same values in one pass (the output bias gradient of an expert while its upstream gradient is
     * gathered).
     */
    public abstract void gatherScaledRowsDot(Matrix src, int[] index, int from, int count, double[] scale, Matrix other,
                                             double[] dots, Matrix columnSums);

    /** Multiplies row r by {@code s[from + r]}. */
    public abstract void scaleRows(double[] s, int from);

    /** Dot product of row r of this with row {@code otherRow} of {@code other}. */
    public abstract double dotRows(int r, Matrix other, int otherRow);

    /** Row r of this += s * row {@code srcRow} of {@code src}. */
    public abstract void addScaledRow(int r, Matrix src, int srcRow, double s);

    /** The flat index of the first NaN or infinite element, or -1 when every element is finite. */
    public abstract int firstNonFinite();

    /** Copies row r into {@code dst[0..cols)} as doubles. */
    public abstract void getRow(int r, double[] dst);

    @Override
    public String toString() {
        return precision() + "[" + rows + "x" + cols + "]";
    }

    /**
     * The non-negative values of {@code entryOf[base, base + slots)} into {@code out}, ascending
     * (insertion sort: slots is k, a handful); returns how many.
     */
    static int ascendingEntries(int[] entryOf, int base, int slots, int[] out) {
        int n = 0;
        for (int j = 0; j < slots; j++) {
            int q = entryOf[base + j];
            if (q < 0) continue;
            int at = n++;
            while (at > 0 && out[at - 1] > q) {
                out[at] = out[at - 1];
                at--;
            }
            out[at] = q;
        }
        return n;
    }

    protected final void checkSameShape(Matrix o) {
        if (o.rows != rows || o.cols != cols) {
            throw new IllegalArgumentException("shape mismatch: " + this + " vs " + o);
        }
    }

    protected final void checkSamePrecision(Matrix o) {
        if (o.precision() != precision()) {
            throw new IllegalArgumentException("precision mismatch: " + this + " vs " + o);
        }
    }

    protected final void checkGemmShapes(Matrix a, boolean transA, Matrix b, boolean transB) {
        checkSamePrecision(a);
        checkSamePrecision(b);
        int m = transA ? a.cols : a.rows;
        int k = transA ? a.rows : a.cols;
        int kb = transB ? b.cols : b.rows;
        int n = transB ? b.rows : b.cols;
        if (k != kb || m != rows || n != cols) {
            throw new IllegalArgumentException("gemm shapes: op(" + a + (transA ? "^T" : "") + ") x op(" + b
                    + (transB ? "^T" : "") + ") into " + this);
        }
    }
}
