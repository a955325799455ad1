package org.sparkmoe.core.recurrent;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * One LSTM layer (Hochreiter and Schmidhuber 1997, with a forget gate) run over a window of T
 * timesteps of S sequences at once, the recurrent layers of the paper's language model (section 5.1,
 * appendix C):
 *
 * <pre>
 *   [a_i a_f a_g a_o] = x_t W + h_{t-1} U + b
 *   i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
 *   c_t = f c_{t-1} + i g          h_t = o tanh(c_t)
 * </pre>
 *
 * Tensors {@code <prefix>w} ({@code in x 4d}), {@code <prefix>u} ({@code d x 4d}) and
 * {@code <prefix>b} ({@code 1 x 4d}), gate blocks in the order i, f, g, o.
 *
 * <p>Rows are time-major: row {@code t*S + s} is timestep t of sequence s, so the S rows of one
 * timestep are contiguous. The input projection of all T*S rows is one GEMM before the recurrence;
 * each timestep adds one {@code S x d} by {@code d x 4d} GEMM. Backward (back-propagation through
 * time over the window) runs one GEMM per timestep for the recurrent gradient and then one GEMM each
 * for dW, dU and dx over the whole window. The state entering the window is an input: truncated
 * BPTT stops there, and its gradient is reported (for checks) but never propagated further back.
 * Stateless apart from its shape; activations live in a {@link Workspace} the caller reuses.
 */
public final class LstmLayer implements Serializable {
    private static final long serialVersionUID = 1L;
    /** Initial forget-gate bias: remember by default (Jozefowicz et al. 2015). */
    static final double FORGET_BIAS = 1.0;

    private final String prefix;
    private final int inputDim;
    private final int units;

    /**
     * @param prefix   tensor name prefix, e.g. "lstm1."
     * @param inputDim width of x
     * @param units    d, width of h and c
     */
    public LstmLayer(String prefix, int inputDim, int units) {
        if (inputDim <= 0 || units <= 0) {
            throw new IllegalArgumentException("LSTM sizes must be positive: input " + inputDim + ", units " + units);
        }
        if ((long) Math.max(inputDim, units) * 4 * units > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("LSTM weights " + inputDim + " x 4*" + units + " exceed 2^31 - 1 elements");
        }
        this.prefix = prefix;
        this.inputDim = inputDim;
        this.units = units;
    }

    public int inputDim() {
        return inputDim;
    }

    public int units() {
        return units;
    }

    public String inputWeight() {
        return prefix + "w";
    }

    public String recurrentWeight() {
        return prefix + "u";
    }

    public String bias() {
        return prefix + "b";
    }

    public void declare(ParameterLayout.Builder layout) {
        layout.add(inputWeight(), inputDim, 4 * units).add(recurrentWeight(), units, 4 * units).add(bias(), 1, 4 * units);
    }

    /** Glorot-uniform W and U, zero bias but {@value #FORGET_BIAS} on the forget gate. */
    public void initialise(Parameters p, SplittableRandom random) {
        glorotUniform(p.get(inputWeight()), random);
        glorotUniform(p.get(recurrentWeight()), random);
        Matrix b = p.get(bias());
        b.fill(0);
        for (int j = 0; j < units; j++) b.setFlat(units + j, FORGET_BIAS);
    }

    static void glorotUniform(Matrix w, SplittableRandom random) {
        double limit = Math.sqrt(6.0 / (w.rows() + w.cols()));
        for (int i = 0, n = w.size(); i < n; i++) w.setFlat(i, (2 * random.nextDouble() - 1) * limit);
    }

    /** Multiply-adds per token of the forward pass (the two GEMMs). */
    public long forwardFlopsPerToken() {
        return 2L * 4 * units * (inputDim + units);
    }

    public Workspace newWorkspace(Precision precision) {
        return new Workspace(precision);
    }

    /**
     * Runs the window: {@code x} is {@code T*S x in} (time-major), {@code h0}/{@code c0} the
     * {@code S x d} state entering it. Returns the outputs h_1..h_T as a {@code T*S x d} view into
     * the workspace (valid until its next forward); {@link Workspace#finalHidden}/{@link
     * Workspace#finalCell} are the state leaving the window.
     */
    public Matrix forward(Parameters p, Matrix x, int sequences, Matrix h0, Matrix c0, Workspace ws) {
        int m = x.rows();
        int s = sequences;
        if (s <= 0 || m % s != 0) {
            throw new IllegalArgumentException(m + " rows are not T windows of " + s + " sequences");
        }
        if (x.cols() != inputDim) {
            throw new IllegalArgumentException("x has " + x.cols() + " columns, the LSTM " + prefix + " expects " + inputDim);
        }
        int d = units;
        int steps = m / s;
        ws.prepare(steps, s);
        Matrix gates = ws.gates;
        gates.gemm(1, x, false, p.get(inputWeight()), false, 0);
        gates.addRowVector(p.get(bias()));
        ws.h.slice(0, s, d).copyFrom(h0);
        ws.c.slice(0, s, d).copyFrom(c0);
        Matrix u = p.get(recurrentWeight());
        for (int t = 0; t < steps; t++) {
            Matrix gt = gates.slice(t * s * 4 * d, s, 4 * d);
            gt.gemm(1, ws.h.slice(t * s * d, s, d), false, u, false, 1);
            cellForward(gt, ws.c.slice(t * s * d, s, d), ws.c.slice((t + 1) * s * d, s, d),
                    ws.tanhC.slice(t * s * d, s, d), ws.h.slice((t + 1) * s * d, s, d));
        }
        return ws.h.slice(s * d, m, d);
    }

    /** Gate activations in place, then the new cell and hidden state of one timestep. */
    private void cellForward(Matrix g, Matrix cPrev, Matrix c, Matrix tanhC, Matrix h) {
        int d = units;
        for (int r = 0, rows = g.rows(); r < rows; r++) {
            int gb = r * 4 * d, sb = r * d;
            for (int j = 0; j < d; j++) {
                double i = sigmoid(g.getFlat(gb + j));
                double f = sigmoid(g.getFlat(gb + d + j));
                double gg = Math.tanh(g.getFlat(gb + 2 * d + j));
                double o = sigmoid(g.getFlat(gb + 3 * d + j));
                g.setFlat(gb + j, i);
                g.setFlat(gb + d + j, f);
                g.setFlat(gb + 2 * d + j, gg);
                g.setFlat(gb + 3 * d + j, o);
                double cv = f * cPrev.getFlat(sb + j) + i * gg;
                double tc = Math.tanh(cv);
                c.setFlat(sb + j, cv);
                tanhC.setFlat(sb + j, tc);
                h.setFlat(sb + j, o * tc);
            }
        }
    }

    private static double sigmoid(double a) {
        return 1 / (1 + Math.exp(-a));
    }

    /**
     * Back-propagation through the window of the last {@link #forward} on {@code ws} (same
     * {@code x}): {@code dH} is dL/dh_t for every row ({@code T*S x d}). Accumulates dW, dU, db into
     * {@code grad}, writes dL/dx into {@code dx} (overwritten) and the gradient with respect to the
     * state entering the window into {@link Workspace#initialHiddenGradient}/{@link
     * Workspace#initialCellGradient}.
     */
    public void backward(Parameters p, Matrix x, Matrix dH, Workspace ws, Parameters grad, Matrix dx) {
        int s = ws.sequences, steps = ws.steps, d = units, m = steps * s;
        if (dH.rows() != m || dH.cols() != d) {
            throw new IllegalArgumentException("dH must be " + m + "x" + d + ", got " + dH);
        }
        Matrix dGates = ws.dGates;
        Matrix dhRec = ws.dh0;
        Matrix dc = ws.dc0;
        dhRec.fill(0);
        dc.fill(0);
        Matrix u = p.get(recurrentWeight());
        for (int t = steps - 1; t >= 0; t--) {
            int sb = t * s * d;
            cellBackward(ws.gates.slice(sb * 4, s, 4 * d), ws.c.slice(sb, s, d), ws.tanhC.slice(sb, s, d),
                    dH.slice(sb, s, d), dhRec, dc, dGates.slice(sb * 4, s, 4 * d));
            dhRec.gemm(1, dGates.slice(sb * 4, s, 4 * d), false, u, true, 0);
        }
        grad.get(inputWeight()).gemm(1, x, true, dGates, false, 1);
        grad.get(recurrentWeight()).gemm(1, ws.h.slice(0, m, d), true, dGates, false, 1);
        dGates.addColumnSumsTo(grad.get(bias()));
        dx.gemm(1, dGates, false, p.get(inputWeight()), true, 0);
    }

    /**
     * One timestep backwards: reads dh (from above plus the recurrent {@code dhRec}) and the cell
     * gradient {@code dc} from t+1, writes the pre-activation gate gradients and leaves dL/dc_{t-1}
     * in {@code dc}.
     */
    private void cellBackward(Matrix g, Matrix cPrev, Matrix tanhC, Matrix dhAbove, Matrix dhRec, Matrix dc, Matrix dG) {
        int d = units;
        for (int r = 0, rows = g.rows(); r < rows; r++) {
            int gb = r * 4 * d, sb = r * d;
            for (int j = 0; j < d; j++) {
                double i = g.getFlat(gb + j);
                double f = g.getFlat(gb + d + j);
                double gg = g.getFlat(gb + 2 * d + j);
                double o = g.getFlat(gb + 3 * d + j);
                double tc = tanhC.getFlat(sb + j);
                double dh = dhAbove.getFlat(sb + j) + dhRec.getFlat(sb + j);
                double dcv = dc.getFlat(sb + j) + dh * o * (1 - tc * tc);
                dG.setFlat(gb + j, dcv * gg * i * (1 - i));
                dG.setFlat(gb + d + j, dcv * cPrev.getFlat(sb + j) * f * (1 - f));
                dG.setFlat(gb + 2 * d + j, dcv * i * (1 - gg * gg));
                dG.setFlat(gb + 3 * d + j, dh * tc * o * (1 - o));
                dc.setFlat(sb + j, dcv * f);
            }
        }
    }

    /** Activations of one window, reused across steps; one per layer and thread. */
    public final class Workspace {
        private final Precision precision;
        private int steps, sequences;
        private Matrix gatesBuf, hBuf, cBuf, tanhCBuf, dGatesBuf, dh0Buf, dc0Buf;
        private Matrix gates, h, c, tanhC, dGates, dh0, dc0;

        Workspace(Precision precision) {
            this.precision = precision;
        }

        void prepare(int steps, int sequences) {
            this.steps = steps;
            this.sequences = sequences;
            int m = steps * sequences, d = units;
            gates = (gatesBuf = Buffers.ensureRows(gatesBuf, precision, m, 4 * d)).topRows(m);
            dGates = (dGatesBuf = Buffers.ensureRows(dGatesBuf, precision, m, 4 * d)).topRows(m);
            tanhC = (tanhCBuf = Buffers.ensureRows(tanhCBuf, precision, m, d)).topRows(m);
            h = (hBuf = Buffers.ensureRows(hBuf, precision, m + sequences, d)).topRows(m + sequences);
            c = (cBuf = Buffers.ensureRows(cBuf, precision, m + sequences, d)).topRows(m + sequences);
            dh0 = (dh0Buf = Buffers.ensureRows(dh0Buf, precision, sequences, d)).topRows(sequences);
            dc0 = (dc0Buf = Buffers.ensureRows(dc0Buf, precision, sequences, d)).topRows(sequences);
        }

        /** h_T of the last forward pass ({@code S x d} view). */
        public Matrix finalHidden() {
            return h.slice(steps * sequences * units, sequences, units);
        }

        /** c_T of the last forward pass ({@code S x d} view). */
        public Matrix finalCell() {
            return c.slice(steps * sequences * units, sequences, units);
        }

        /** dL/dh_0 of the last backward pass: what truncated BPTT drops. */
        public Matrix initialHiddenGradient() {
            return dh0;
        }

        /** dL/dc_0 of the last backward pass. */
        public Matrix initialCellGradient() {
            return dc0;
        }
    }
}
