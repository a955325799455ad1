package org.sparkmoe.core.linalg;

import java.util.Arrays;

/** float64 {@link Matrix}: gradient checks and exact engine-vs-reference comparisons. */
public final class DoubleMatrix extends Matrix {
    private static final long serialVersionUID = 1L;
    private final double[] data;

    public DoubleMatrix(int rows, int cols) {
        this(new double[Math.multiplyExact(rows, cols)], 0, rows, cols);
    }

    /** A view of {@code rows x cols} elements of {@code data} starting at {@code offset}. */
    public DoubleMatrix(double[] data, int offset, int rows, int cols) {
        super(rows, cols, offset);
        if (offset < 0 || (long) offset + (long) rows * cols > data.length) {
            throw new IllegalArgumentException("view " + rows + "x" + cols + "@" + offset + " outside array of " + data.length);
        }
        this.data = data;
    }

    private Object writeReplace() {
        return new MatrixSerial(this);
    }

    private void readObject(java.io.ObjectInputStream in) throws java.io.InvalidObjectException {
        throw new java.io.InvalidObjectException("matrices are read through their serial form");
    }

    /** The backing array (shared, not copied). */
    public double[] data() {
        return data;
    }

    @Override
    public Precision precision() {
        return Precision.F64;
    }

    @Override
    public double get(int r, int c) {
        return data[offset + r * cols + c];
    }

    @Override
    public void set(int r, int c, double v) {
        data[offset + r * cols + c] = v;
    }

    @Override
    public void add(int r, int c, double v) {
        data[offset + r * cols + c] += v;
    }

    @Override
    public double getFlat(int i) {
        return data[offset + i];
    }

    @Override
    public void setFlat(int i, double v) {
        data[offset + i] = v;
    }

    @Override
    public DoubleMatrix topRows(int m) {
        return new DoubleMatrix(data, offset, m, cols);
    }

    @Override
    public DoubleMatrix slice(int start, int r, int c) {
        return new DoubleMatrix(data, offset + start, r, c);
    }

    @Override
    public void fill(double v) {
        Arrays.fill(data, offset, offset + size(), v);
    }

    @Override
    public void copyFrom(Matrix src) {
        checkSameShape(src);
        if (src instanceof DoubleMatrix f) {
            System.arraycopy(f.data, f.offset, data, offset, size());
        } else {
            for (int i = 0, n = size(); i < n; i++) data[offset + i] = src.getFlat(i);
        }
    }

    @Override
    public void axpy(double alpha, Matrix x) {
        checkSameShape(x);
        double[] xd = ((DoubleMatrix) x).data;
        int xo = x.offset;
        double a = alpha;
        for (int i = 0, n = size(); i < n; i++) data[offset + i] += a * xd[xo + i];
    }

    @Override
    public void scale(double alpha) {
        double a = alpha;
        for (int i = offset, e = offset + size(); i < e; i++) data[i] *= a;
    }

    @Override
    public double sumOfSquares() {
        double s = 0;
        for (int i = offset, e = offset + size(); i < e; i++) s += (double) data[i] * data[i];
        return s;
    }

    @Override
    public void gemm(double alpha, Matrix a, boolean transA, Matrix b, boolean transB, double beta) {
        checkGemmShapes(a, transA, b, transB);
        int k = transA ? a.rows : a.cols;
        GemmBackends.current().dgemm(transA, transB, rows, cols, k, alpha,
                ((DoubleMatrix) a).data, a.offset, a.cols, ((DoubleMatrix) b).data, b.offset, b.cols,
                beta, data, offset, cols);
    }

    @Override
    public void setRowsTo(Matrix row) {
        if (row.cols != cols) {
            throw new IllegalArgumentException("row of " + row.cols + " columns for " + this);
        }
        double[] rd = ((DoubleMatrix) row).data;
        for (int r = 0; r < rows; r++) System.arraycopy(rd, row.offset, data, offset + r * cols, cols);
    }

    @Override
    public void addRowVector(Matrix bias) {
        double[] bd = ((DoubleMatrix) bias).data;
        int bo = bias.offset;
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] += bd[bo + c];
        }
    }

    @Override
    public void addRowVectorRelu(Matrix bias) {
        double[] bd = ((DoubleMatrix) bias).data;
        int bo = bias.offset;
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] = Math.max(data[o + c] + bd[bo + c], 0.0);
        }
    }

    @Override
    public void reluInPlace() {
        for (int i = offset, e = offset + size(); i < e; i++) if (data[i] < 0d) data[i] = 0d;
    }

    @Override
    public void reluMask(Matrix activation) {
        checkSameShape(activation);
        double[] ad = ((DoubleMatrix) activation).data;
        int ao = activation.offset;
        for (int i = 0, n = size(); i < n; i++) if (ad[ao + i] <= 0d) data[offset + i] = 0d;
    }

    @Override
    public void reluMaskAddColumnSums(Matrix activation, Matrix columnSums) {
        reluMask(activation);
        addColumnSumsTo(columnSums);
    }

    @Override
    public void addColumnSumsTo(Matrix out) {
        double[] od = ((DoubleMatrix) out).data;
        int oo = out.offset;
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) od[oo + c] += data[o + c];
        }
    }

    @Override
    public void gatherRows(Matrix src, int[] index, int from, int count) {
        double[] sd = ((DoubleMatrix) src).data;
        for (int r = 0; r < count; r++) {
            System.arraycopy(sd, src.offset + index[from + r] * src.cols, data, offset + r * cols, cols);
        }
    }

    @Override
    public void scatterAddRows(Matrix src, int[] index, int from, int count, double[] scale) {
        double[] sd = ((DoubleMatrix) src).data;
        for (int r = 0; r < count; r++) {
            int o = offset + index[from + r] * cols;
            int so = src.offset + r * src.cols;
            double s = scale == null ? 1d : scale[from + r];
            for (int c = 0; c < cols; c++) data[o + c] += s * sd[so + c];
        }
    }

    @Override
    public void sumRowsOf(Matrix src, int[] entryOf, int slots, double[] scale, Matrix residual) {
        double[] sd = ((DoubleMatrix) src).data;
        double[] rd = residual == null ? null : ((DoubleMatrix) residual).data;
        int[] q = new int[slots];
        for (int r = 0; r < rows; r++) {
            int n = ascendingEntries(entryOf, r * slots, slots, q);
            int o = offset + r * cols;
            if (n == 0) {
                Arrays.fill(data, o, o + cols, 0d);
            }
            for (int j = 0; j < n; j++) {
                int so = src.offset + q[j] * src.cols;
                double s = scale == null ? 1d : scale[q[j]];
                if (j == 0) {
                    for (int c = 0; c < cols; c++) data[o + c] = 0d + s * sd[so + c];
                } else {
                    for (int c = 0; c < cols; c++) data[o + c] += s * sd[so + c];
                }
            }
            if (rd != null) {
                int ro = residual.offset + r * residual.cols;
                for (int c = 0; c < cols; c++) data[o + c] += rd[ro + c];
            }
        }
    }

    @Override
    public void gatherScaledRowsDot(Matrix src, int[] index, int from, int count, double[] scale, Matrix other, double[] dots,
                                    Matrix columnSums) {
        double[] sd = ((DoubleMatrix) src).data;
        double[] od = ((DoubleMatrix) other).data;
        for (int r = 0; r < count; r++) {
            int s0 = src.offset + index[from + r] * src.cols;
            int o0 = other.offset + r * other.cols;
            int d0 = offset + r * cols;
            double f0 = scale[from + r];
            double a0 = 0;
            for (int c = 0; c < cols; c++) {
                double v0 = sd[s0 + c];
                a0 += v0 * od[o0 + c];
                data[d0 + c] = v0 * f0;
            }
            dots[r] = a0;
        }
        if (columnSums != null) {
            topRows(count).addColumnSumsTo(columnSums);
        }
    }

    @Override
    public void scaleRows(double[] s, int from) {
        for (int r = 0; r < rows; r++) {
            double f = s[from + r];
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] *= f;
        }
    }

    @Override
    public double dotRows(int r, Matrix other, int otherRow) {
        double[] od = ((DoubleMatrix) other).data;
        int o = offset + r * cols;
        int oo = other.offset + otherRow * other.cols;
        double s = 0;
        for (int c = 0; c < cols; c++) s += data[o + c] * od[oo + c];
        return s;
    }

    @Override
    public void addScaledRow(int r, Matrix src, int srcRow, double s) {
        double[] sd = ((DoubleMatrix) src).data;
        int o = offset + r * cols;
        int so = src.offset + srcRow * src.cols;
        double f = s;
        for (int c = 0; c < cols; c++) data[o + c] += f * sd[so + c];
    }

    @Override
    public int firstNonFinite() {
        for (int i = 0, n = size(); i < n; i++) {
            if (!Double.isFinite(data[offset + i])) return i;
        }
        return -1;
    }

    @Override
    public void getRow(int r, double[] dst) {
        int o = offset + r * cols;
        for (int c = 0; c < cols; c++) dst[c] = data[o + c];
    }
}
