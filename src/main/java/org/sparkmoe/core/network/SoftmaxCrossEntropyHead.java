package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Softmax classification head (docs/DESIGN.md section 5; the next-token softmax of the paper's language
 * models): logits {@code z = y W + b} ({@code d -> C}), {@code p = softmax(z)}, per-example loss
 * {@code -log p[label]}, times the example's weight when the batch has weights. Tensors {@value #WEIGHT} ({@code d x C}) and {@value #BIAS}
 * ({@code 1 x C}).
 *
 * <p>The log-softmax subtracts the row maximum and is evaluated in double precision whatever the
 * parameters' precision, so large logits neither overflow nor lose the loss. The rows go through
 * in chunks of a bounded number of logits ({@link #chunkRows}); the chunk's buffer is per thread
 * and reused (it becomes dL/dz in place).
 */
public final class SoftmaxCrossEntropyHead implements OutputHead, Serializable {
    private static final long serialVersionUID = 1L;

    public static final String WEIGHT = "head.weight";
    public static final String BIAS = "head.bias";

    private final int inputDim;
    private final int classes;
    private final Linear linear;
    private static final int CHUNK_ELEMENTS = 1 << 18;
    private final PerThread<Scratch> scratch = new PerThread<>(Scratch::new);

    /**
     * @param inputDim d, width of the MoE layer's output
     * @param classes  C, number of classes (the vocabulary size for language modelling)
     */
    public SoftmaxCrossEntropyHead(int inputDim, int classes) {
        this.linear = new Linear(WEIGHT, BIAS, "input width d", inputDim, "number of classes C", classes);
        this.inputDim = inputDim;
        this.classes = classes;
    }

    public int inputDim() {
        return inputDim;
    }

    @Override
    public int outputDim() {
        return classes;
    }

    @Override
    public void declare(ParameterLayout.Builder layout) {
        linear.declare(layout);
    }

    /** Glorot-uniform weight, zero bias. */
    @Override
    public void initialise(Parameters p, SplittableRandom random) {
        linear.initialise(p, random);
    }

    @Override
    public double lossAndGradient(Parameters p, Matrix y, Batch batch, double lossScale, Matrix dY, Parameters grad) {
        int m = y.rows();
        Init.checkShape("y", y, batch.size(), inputDim);
        Init.checkShape("dY", dY, m, inputDim);
        Init.checkLossScale(lossScale);
        int[] labels = batch.labels();
        if (labels == null) {
            throw new IllegalArgumentException("SoftmaxCrossEntropyHead needs class labels, the batch has none");
        }
        checkLabels(labels, m);
        Scratch s = scratch.get();
        float[] weights = batch.weights();
        double loss = 0;
        int chunk = chunkRows(m);
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int mc = Math.min(chunk, m - r0);
            Matrix yc = y.slice(r0 * inputDim, mc, inputDim);
            Matrix z = logits(p, yc, s);
            double[] row = s.row;
            for (int r = 0; r < mc; r++) {
                z.getRow(r, row);
                double logZ = logSumExp(row);
                int label = labels[r0 + r];
                double w = weights == null ? 1 : weights[r0 + r];
                loss += w * (logZ - row[label]);
                double scale = lossScale * w;
                // dL/dz = w * (softmax(z) - onehot(label)), times lossScale, written over the logits.
                for (int c = 0; c < classes; c++) {
                    double g = Math.exp(row[c] - logZ);
                    if (c == label) g -= 1;
                    z.set(r, c, scale * g);
                }
            }
            linear.backward(p, yc, z, grad, dY.slice(r0 * inputDim, mc, inputDim));
        }
        return loss;
    }

    /**
     * The summed loss {@code -log p[label]} of the first {@code m} rows of {@code y} without any
     * gradient work (evaluation: no dW, db or dy GEMMs); same numerics as {@link #lossAndGradient}.
     */
    public double loss(Parameters p, Matrix y, int[] labels) {
        Init.checkShape("y", y, y.rows(), inputDim);
        int m = y.rows();
        checkLabels(labels, m);
        Scratch s = scratch.get();
        double loss = 0;
        int chunk = chunkRows(m);
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int mc = Math.min(chunk, m - r0);
            Matrix z = logits(p, y.slice(r0 * inputDim, mc, inputDim), s);
            for (int r = 0; r < mc; r++) {
                z.getRow(r, s.row);
                loss += logSumExp(s.row) - s.row[labels[r0 + r]];
            }
        }
        return loss;
    }

    /**
     * Rows of logits the head holds at once: about {@value #CHUNK_ELEMENTS} values (1 MB in float32),
     * at least 16 rows. The whole batch's logits (B/P x C: 115 MB at 7,168 rows and C = 4,000) were a
     * new buffer every step, since a task's head is a fresh copy, and kept the collector busy; a
     * chunk this size is reused within the pass and stays in cache between the forward GEMM, the
     * softmax and the backward GEMMs.
     */
    private int chunkRows(int m) {
        return Math.max(1, Math.min(m, Math.max(16, CHUNK_ELEMENTS / classes)));
    }

    private void checkLabels(int[] labels, int m) {
        for (int r = 0; r < m; r++) {
            if (labels[r] < 0 || labels[r] >= classes) {
                throw new IllegalArgumentException("label " + labels[r] + " at row " + r + " is outside [0, " + classes + ")");
            }
        }
    }

    /** The logits of the rows of {@code y} in the scratch buffer (and sizes its row array). */
    private Matrix logits(Parameters p, Matrix y, Scratch s) {
        int m = y.rows();
        s.logits = Buffers.ensureRows(s.logits, p.precision(), m, classes);
        s.row = Buffers.ensure(s.row, classes);
        Matrix z = s.logits.topRows(m);
        linear.forward(p, y, z);
        return z;
    }

    /** out (m x C) = softmax(y W + b), row by row. */
    @Override
    public void predict(Parameters p, Matrix y, Matrix out) {
        Init.checkShape("out", out, y.rows(), classes);
        if (y.cols() != inputDim) {
            throw new IllegalArgumentException("y has " + y.cols() + " columns, the head expects d = " + inputDim);
        }
        linear.forward(p, y, out);
        Scratch s = scratch.get();
        double[] row = s.row = Buffers.ensure(s.row, classes);
        for (int r = 0, m = y.rows(); r < m; r++) {
            out.getRow(r, row);
            double logZ = logSumExp(row);
            for (int c = 0; c < classes; c++) out.set(r, c, Math.exp(row[c] - logZ));
        }
    }

    /** log(sum_c exp(row[c])) over the first C entries, stable: max + log(sum exp(row - max)). */
    private double logSumExp(double[] row) {
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < classes; c++) max = Math.max(max, row[c]);
        double sum = 0;
        for (int c = 0; c < classes; c++) sum += Math.exp(row[c] - max);
        return max + Math.log(sum);
    }


    private static final class Scratch {
        Matrix logits;
        double[] row;
    }

    @Override
    public String toString() {
        return "SoftmaxCrossEntropyHead{" + inputDim + " -> " + classes + "}";
    }
}
