package org.sparkmoe.core.expert;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * One expert E_i of the MoE layer (paper section 2): a feed-forward network
 * {@code d -> h (ReLU) -> d}, {@code E(x) = relu(x W1 + b1) W2 + b2}. It works on whole batches of
 * rows, so that each layer is one GEMM per expert batch; its parameters live in their own
 * {@link Parameters} (one flat vector per expert) so that experts can be sharded.
 *
 * <p>Stateless apart from its shape: activations for the backward pass live in an
 * {@link ExpertWorkspace} the caller owns and reuses across steps.
 */
public final class Expert implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    public static final String W1 = "w1";
    public static final String B1 = "b1";
    public static final String W2 = "w2";
    public static final String B2 = "b2";
    private static final int IW1 = 0, IB1 = 1, IW2 = 2, IB2 = 3;

    private final int dim;
    private final int hidden;
    private final ParameterLayout layout;

    public Expert(int dim, int hidden) {
        if (dim <= 0 || hidden <= 0) {
            throw new IllegalArgumentException("expert sizes must be positive: d=" + dim + ", h=" + hidden);
        }
        this.dim = dim;
        this.hidden = hidden;
        this.layout = ParameterLayout.builder()
                .add(W1, dim, hidden).add(B1, 1, hidden)
                .add(W2, hidden, dim).add(B2, 1, dim)
                .build();
    }

    public int dim() {
        return dim;
    }

    public int hidden() {
        return hidden;
    }

    /** The layout of one expert's parameters: w1 (d x h), b1 (1 x h), w2 (h x d), b2 (1 x d). */
    public ParameterLayout layout() {
        return layout;
    }

    /** Multiply-adds per token for the forward pass. */
    public long forwardFlopsPerRow() {
        return 4L * dim * hidden;
    }

    /**
     * Fresh parameters: Glorot-uniform weights, zero biases, drawn from {@code random}.
     */
    public Parameters initialise(Precision precision, SplittableRandom random) {
        Parameters p = layout.allocate(precision);
        glorot(p.get(IW1), random);
        glorot(p.get(IW2), random);
        return p;
    }

    private static void glorot(Matrix w, SplittableRandom random) {
        double limit = Math.sqrt(6.0 / (w.rows() + w.cols()));
        for (int i = 0, n = w.size(); i < n; i++) w.setFlat(i, (2 * random.nextDouble() - 1) * limit);
    }

    /**
     * out (m x d) = E(x) for the m rows of {@code x}; keeps the hidden activations in {@code ws}
     * for {@link #backward}.
     */
    public void forward(Parameters p, Matrix x, ExpertWorkspace ws, Matrix out) {
        int m = x.rows();
        Matrix h = ws.hidden(m);
        // the biases are written first and the GEMMs add onto them (beta = 1): BLAS then neither clears C
        // (a memset of each output: 4% of configuration 4's task CPU) nor leaves a bias pass to follow.
        // The sums differ from x W + b only when BLAS splits k into blocks (k = d or h over its block size)
        h.setRowsTo(p.get(IB1));
        h.gemm(1, x, false, p.get(IW1), false, 1);
        h.reluInPlace();
        out.setRowsTo(p.get(IB2));
        out.gemm(1, h, false, p.get(IW2), false, 1);
    }

    /**
     * Backward pass for the last {@link #forward} on the same rows: accumulates the parameter
     * gradients into {@code grad} and, when {@code dx} is non-null, writes dL/dx into it.
     */
    public void backward(Parameters p, Matrix x, ExpertWorkspace ws, Matrix dOut, Matrix dx, Parameters grad) {
        backward(p, x, ws, dOut, dx, grad, true);
    }

    /**
     * {@link #backward(Parameters, Matrix, ExpertWorkspace, Matrix, Matrix, Parameters)}, with
     * {@code accumulate = false} overwriting {@code grad} instead of adding to it: the same values
     * as accumulating into zeros, but the weight-gradient GEMMs neither read the old gradient nor
     * need it cleared first, which at many experts saves two passes over memory the size of the
     * experts' parameters.
     */
    public void backward(Parameters p, Matrix x, ExpertWorkspace ws, Matrix dOut, Matrix dx, Parameters grad, boolean accumulate) {
        backward(p, x, ws, dOut, dx, grad, accumulate, false);
    }

    /**
     * {@link #backward(Parameters, Matrix, ExpertWorkspace, Matrix, Matrix, Parameters)} for a caller
     * that has already added dOut's column sums into {@code grad}'s output bias ({@link #outputBiasGradient}),
     * as {@code MoELayer} does while it gathers dOut, saving a pass over dOut.
     */
    public void backwardOutputBiasAdded(Parameters p, Matrix x, ExpertWorkspace ws, Matrix dOut, Matrix dx, Parameters grad) {
        backward(p, x, ws, dOut, dx, grad, true, true);
    }

    /** The output bias b2's block of a gradient of this expert's layout. */
    public Matrix outputBiasGradient(Parameters grad) {
        return grad.get(IB2);
    }

    private void backward(Parameters p, Matrix x, ExpertWorkspace ws, Matrix dOut, Matrix dx, Parameters grad, boolean accumulate,
                          boolean outputBiasAdded) {
        int m = x.rows();
        Matrix h = ws.hidden(m);
        Matrix dh = ws.hiddenGradient(m);
        double beta = accumulate ? 1 : 0;
        if (!accumulate) {
            grad.get(IB1).fill(0);
            grad.get(IB2).fill(0);
        }
        dh.gemm(1, dOut, false, p.get(IW2), true, 0);
        // the ReLU mask and b1's gradient in one pass over dh
        dh.reluMaskAddColumnSums(h, grad.get(IB1));
        grad.get(IW2).gemm(1, h, true, dOut, false, beta);
        if (!outputBiasAdded) {
            dOut.addColumnSumsTo(grad.get(IB2));
        }
        grad.get(IW1).gemm(1, x, true, dh, false, beta);
        if (dx != null) {
            dx.gemm(1, dh, false, p.get(IW1), true, 0);
        }
    }
}
