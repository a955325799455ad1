package org.sparkmoe.core.linalg;

import java.util.Arrays;

/** float32 {@link Matrix}: the training hot path. */
public final class FloatMatrix extends Matrix {
    private static final long serialVersionUID = 1L;
    private final float[] data;

    public FloatMatrix(int rows, int cols) {
        this(new float[Math.multiplyExact(rows, cols)], 0, rows, cols);
    }

    /** A view of {@code rows x cols} elements of {@code data} starting at {@code offset}. */
    public FloatMatrix(float[] data, int offset, int rows, int cols) {
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
    public float[] data() {
        return data;
    }

    @Override
    public Precision precision() {
        return Precision.F32;
    }

    @Override
    public double get(int r, int c) {
        return data[offset + r * cols + c];
    }

    @Override
    public void set(int r, int c, double v) {
        data[offset + r * cols + c] = (float) v;
    }

    @Override
    public void add(int r, int c, double v) {
        data[offset + r * cols + c] += (float) v;
    }

    @Override
    public double getFlat(int i) {
        return data[offset + i];
    }

    @Override
    public void setFlat(int i, double v) {
        data[offset + i] = (float) v;
    }

    @Override
    public FloatMatrix topRows(int m) {
        return new FloatMatrix(data, offset, m, cols);
    }

    @Override
    public FloatMatrix slice(int start, int r, int c) {
        return new FloatMatrix(data, offset + start, r, c);
    }

    @Override
    public void fill(double v) {
        Arrays.fill(data, offset, offset + size(), (float) v);
    }

    @Override
    public void copyFrom(Matrix src) {
        checkSameShape(src);
        if (src instanceof FloatMatrix f) {
            System.arraycopy(f.data, f.offset, data, offset, size());
        } else {
            for (int i = 0, n = size(); i < n; i++) data[offset + i] = (float) src.getFlat(i);
        }
    }

    @Override
    public void axpy(double alpha, Matrix x) {
        checkSameShape(x);
        float[] xd = ((FloatMatrix) x).data;
        int xo = x.offset;
        float a = (float) alpha;
        for (int i = 0, n = size(); i < n; i++) data[offset + i] += a * xd[xo + i];
    }

    @Override
    public void scale(double alpha) {
        float a = (float) alpha;
        for (int i = offset, e = offset + size(); i < e; i++) data[i] *= a;
    }

    @Override
    public double sumOfSquares() {
        int n = size();
        if (n < SQUARES_MIN) {
            // four running sums: one would be a chain of dependent double additions; the order is fixed, so the
            // result is still deterministic
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int i = offset, e = offset + n;
            for (; i + 3 < e; i += 4) {
                s0 += (double) data[i] * data[i];
                s1 += (double) data[i + 1] * data[i + 1];
                s2 += (double) data[i + 2] * data[i + 2];
                s3 += (double) data[i + 3] * data[i + 3];
            }
            for (; i < e; i++) s0 += (double) data[i] * data[i];
            return (s0 + s1) + (s2 + s3);
        }
        // a large vector (the experts' gradients at n = 256: 134M elements a shard, every step) in SQUARES_LANES
        // double sums, lane c taking elements c, c + LANES, ...: each chunk widened to double in one loop and its
        // squares added into the lanes in another, which C2 vectorises (the four-sum loop above: 0.45 ns an element
        // in cache, 1.4 out of it; this: 0.39 and 0.76), then the lanes and the tail added in order
        double[] scratch = SQUARES_SCRATCH.get();
        java.util.Arrays.fill(scratch, 0, SQUARES_LANES, 0d);
        int i = offset, e = offset + n;
        for (; i + SQUARES_LANES <= e; i += SQUARES_LANES) {
            widen(data, i, scratch);
            addSquares(scratch);
        }
        double s = 0;
        for (int c = 0; c < SQUARES_LANES; c++) s += scratch[c];
        for (; i < e; i++) s += (double) data[i] * data[i];
        return s;
    }

    /** Lanes of {@link #sumOfSquares} over a large vector; below SQUARES_MIN elements it sums in four. */
    private static final int SQUARES_LANES = 256, SQUARES_MIN = 4096;
    /** Per thread: the lanes [0, LANES) and a chunk widened to double [LANES, 2 LANES). */
    private static final ThreadLocal<double[]> SQUARES_SCRATCH = ThreadLocal.withInitial(() -> new double[2 * SQUARES_LANES]);

    private static void widen(float[] d, int from, double[] scratch) {
        for (int c = 0; c < SQUARES_LANES; c++) scratch[SQUARES_LANES + c] = d[from + c];
    }

    private static void addSquares(double[] scratch) {
        for (int c = 0; c < SQUARES_LANES; c++) scratch[c] += scratch[SQUARES_LANES + c] * scratch[SQUARES_LANES + c];
    }

    @Override
    public void gemm(double alpha, Matrix a, boolean transA, Matrix b, boolean transB, double beta) {
        checkGemmShapes(a, transA, b, transB);
        int k = transA ? a.rows : a.cols;
        GemmBackends.current().sgemm(transA, transB, rows, cols, k, (float) alpha,
                ((FloatMatrix) a).data, a.offset, a.cols, ((FloatMatrix) b).data, b.offset, b.cols,
                (float) beta, data, offset, cols);
    }

    @Override
    public void setRowsTo(Matrix row) {
        if (row.cols != cols) {
            throw new IllegalArgumentException("row of " + row.cols + " columns for " + this);
        }
        float[] rd = ((FloatMatrix) row).data;
        int ro = row.offset;
        // a loop, not System.arraycopy: a row is short (64 floats in configuration 4) and the copy stub's
        // call per row cost more than the vectorised loop
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] = rd[ro + c];
        }
    }

    @Override
    public void addRowVector(Matrix bias) {
        float[] bd = ((FloatMatrix) bias).data;
        int bo = bias.offset;
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] += bd[bo + c];
        }
    }

    @Override
    public void addRowVectorRelu(Matrix bias) {
        float[] bd = ((FloatMatrix) bias).data;
        int bo = bias.offset;
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] = relu(data[o + c] + bd[bo + c]);
        }
    }

    /**
     * max(v, +0) by the sign bit: C2 on JDK 17 compiles {@code Math.max(float, float)} to a NaN- and
     * signed-zero-aware sequence that it does not vectorise (1.07 ns an element against 0.42 for this
     * on the 1024 x 64 hidden layer of an expert). The same bits as {@code Math.max(v, 0f)} for every
     * v but a NaN with the sign bit set, which this turns into +0.
     */
    private static float relu(float v) {
        int b = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat(b & ~(b >> 31));
    }

    @Override
    public void reluInPlace() {
        // branch-free: the sign of activations is random, a branch would mispredict half the time
        for (int i = offset, e = offset + size(); i < e; i++) data[i] = relu(data[i]);
    }

    @Override
    public void reluMask(Matrix activation) {
        checkSameShape(activation);
        float[] ad = ((FloatMatrix) activation).data;
        int ao = activation.offset;
        // branch-free: the sign of activations is random and the select `a > 0 ? d : 0` stays a scalar
        // branch mispredicting half the time (3.9 ns an element on JDK 17), and a float mask built with
        // Math.min/max is not vectorised either (2.7 ns); an integer mask from the sign bits is (0.6 ns).
        // The mask is all ones exactly when the activation's bits are a positive int (a > 0, or a NaN
        // without the sign bit) and zero for +0, -0 and negatives; "+ 0f" turns a -0 gradient of an
        // active unit into +0 as the float mask did: the same bits as before for every finite d and
        // non-NaN activation.
        for (int i = 0, n = size(); i < n; i++) data[offset + i] = reluMasked(data[offset + i], ad[ao + i]);
    }

    /** Gradient {@code d} through a ReLU whose output was {@code a}: {@link #reluMask}'s element. */
    private static float reluMasked(float d, float a) {
        int ab = Float.floatToRawIntBits(a);
        int mask = (-ab & ~ab) >> 31;
        return Float.intBitsToFloat(Float.floatToRawIntBits(d + 0f) & mask);
    }

    @Override
    public void reluMaskAddColumnSums(Matrix activation, Matrix columnSums) {
        checkSameShape(activation);
        float[] ad = ((FloatMatrix) activation).data;
        int ao = activation.offset;
        float[] sd = ((FloatMatrix) columnSums).data;
        int so = columnSums.offset;
        // the mask of reluMask, and each masked row added into the sums as it is written (rows in order,
        // so the sums are addColumnSumsTo's bit for bit)
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols, a = ao + r * cols;
            for (int c = 0; c < cols; c++) {
                float v = reluMasked(data[o + c], ad[a + c]);
                data[o + c] = v;
                sd[so + c] += v;
            }
        }
    }

    @Override
    public void addColumnSumsTo(Matrix out) {
        float[] od = ((FloatMatrix) out).data;
        int oo = out.offset;
        for (int r = 0; r < rows; r++) {
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) od[oo + c] += data[o + c];
        }
    }

    @Override
    public void gatherRows(Matrix src, int[] index, int from, int count) {
        float[] sd = ((FloatMatrix) src).data;
        for (int r = 0; r < count; r++) {
            System.arraycopy(sd, src.offset + index[from + r] * src.cols, data, offset + r * cols, cols);
        }
    }

    @Override
    public void scatterAddRows(Matrix src, int[] index, int from, int count, double[] scale) {
        float[] sd = ((FloatMatrix) src).data;
        for (int r = 0; r < count; r++) {
            int o = offset + index[from + r] * cols;
            int so = src.offset + r * src.cols;
            float s = scale == null ? 1f : (float) scale[from + r];
            for (int c = 0; c < cols; c++) data[o + c] += s * sd[so + c];
        }
    }

    @Override
    public void sumRowsOf(Matrix src, int[] entryOf, int slots, double[] scale, Matrix residual) {
        float[] sd = ((FloatMatrix) src).data;
        float[] rd = residual == null ? null : ((FloatMatrix) residual).data;
        int[] q = new int[slots];
        for (int r = 0; r < rows; r++) {
            int n = ascendingEntries(entryOf, r * slots, slots, q);
            int o = offset + r * cols;
            if (n == 0) {
                Arrays.fill(data, o, o + cols, 0f);
            }
            for (int j = 0; j < n; j++) {
                int so = src.offset + q[j] * src.cols;
                float s = scale == null ? 1f : (float) scale[q[j]];
                if (j == 0) {
                    for (int c = 0; c < cols; c++) data[o + c] = 0f + s * sd[so + c]; // 0f +: -0 becomes +0, as after fill(0)
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
        float[] sd = ((FloatMatrix) src).data;
        float[] od = ((FloatMatrix) other).data;
        float[] cs = columnSums == null ? null : ((FloatMatrix) columnSums).data;
        int co = columnSums == null ? 0 : columnSums.offset;
        int r = 0;
        // four rows at a time: each dot is a chain of dependent double additions (kept in column order, so
        // bit for bit dotRows), and four independent chains hide each other's latency; the column sums add
        // row r's, then row r + 1's, ... (addColumnSumsTo's order) and ride along in the additions' shadow
        // (the test of cs is loop-invariant: C2 unswitches it)
        for (; r + 3 < count; r += 4) {
            int s0 = src.offset + index[from + r] * src.cols, s1 = src.offset + index[from + r + 1] * src.cols;
            int s2 = src.offset + index[from + r + 2] * src.cols, s3 = src.offset + index[from + r + 3] * src.cols;
            int o0 = other.offset + r * other.cols, o1 = o0 + other.cols, o2 = o1 + other.cols, o3 = o2 + other.cols;
            int d0 = offset + r * cols, d1 = d0 + cols, d2 = d1 + cols, d3 = d2 + cols;
            float f0 = (float) scale[from + r], f1 = (float) scale[from + r + 1];
            float f2 = (float) scale[from + r + 2], f3 = (float) scale[from + r + 3];
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int c = 0; c < cols; c++) {
                float v0 = sd[s0 + c], v1 = sd[s1 + c], v2 = sd[s2 + c], v3 = sd[s3 + c];
                a0 += v0 * od[o0 + c];
                a1 += v1 * od[o1 + c];
                a2 += v2 * od[o2 + c];
                a3 += v3 * od[o3 + c];
                float w0 = v0 * f0, w1 = v1 * f1, w2 = v2 * f2, w3 = v3 * f3;
                data[d0 + c] = w0;
                data[d1 + c] = w1;
                data[d2 + c] = w2;
                data[d3 + c] = w3;
                if (cs != null) {
                    cs[co + c] = (((cs[co + c] + w0) + w1) + w2) + w3;
                }
            }
            dots[r] = a0;
            dots[r + 1] = a1;
            dots[r + 2] = a2;
            dots[r + 3] = a3;
        }
        for (; r < count; r++) {
            int s0 = src.offset + index[from + r] * src.cols;
            int o0 = other.offset + r * other.cols;
            int d0 = offset + r * cols;
            float f0 = (float) scale[from + r];
            double a0 = 0;
            for (int c = 0; c < cols; c++) {
                float v0 = sd[s0 + c];
                a0 += v0 * od[o0 + c];
                float w0 = v0 * f0;
                data[d0 + c] = w0;
                if (cs != null) {
                    cs[co + c] += w0;
                }
            }
            dots[r] = a0;
        }
    }

    @Override
    public void scaleRows(double[] s, int from) {
        for (int r = 0; r < rows; r++) {
            float f = (float) s[from + r];
            int o = offset + r * cols;
            for (int c = 0; c < cols; c++) data[o + c] *= f;
        }
    }

    @Override
    public double dotRows(int r, Matrix other, int otherRow) {
        float[] od = ((FloatMatrix) other).data;
        int o = offset + r * cols;
        int oo = other.offset + otherRow * other.cols;
        double s = 0;
        for (int c = 0; c < cols; c++) s += data[o + c] * od[oo + c];
        return s;
    }

    @Override
    public void addScaledRow(int r, Matrix src, int srcRow, double s) {
        float[] sd = ((FloatMatrix) src).data;
        int o = offset + r * cols;
        int so = src.offset + srcRow * src.cols;
        float f = (float) s;
        for (int c = 0; c < cols; c++) data[o + c] += f * sd[so + c];
    }

    @Override
    public int firstNonFinite() {
        // one vectorisable OR over the exponent bits (exponent all ones + 1 carries into the sign bit),
        // then a search only when something is not finite
        int acc = 0;
        for (int i = offset, e = offset + size(); i < e; i++) {
            acc |= (Float.floatToRawIntBits(data[i]) & 0x7f800000) + 0x00800000;
        }
        if (acc >= 0) {
            return -1;
        }
        for (int i = 0, n = size(); i < n; i++) {
            if (!Float.isFinite(data[offset + i])) return i;
        }
        return -1;
    }

    @Override
    public void getRow(int r, double[] dst) {
        int o = offset + r * cols;
        for (int c = 0; c < cols; c++) dst[c] = data[o + c];
    }
}
