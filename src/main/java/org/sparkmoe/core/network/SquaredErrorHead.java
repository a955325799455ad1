package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Linear regression head (docs/DESIGN.md section 5): {@code yhat = y W + b} ({@code d -> o}), per-example
 * loss {@code 0.5 * ||yhat - t||^2}, times the example's weight when the batch has weights. Tensors {@value #WEIGHT} ({@code d x o}) and {@value #BIAS}
 * ({@code 1 x o}). Targets in another precision than the parameters are converted first.
 */
public final class SquaredErrorHead implements OutputHead, Serializable {
    private static final long serialVersionUID = 1L;

    public static final String WEIGHT = "head.weight";
    public static final String BIAS = "head.bias";

    private final int inputDim;
    private final int outputs;
    private final Linear linear;
    private final PerThread<Scratch> scratch = new PerThread<>(Scratch::new);

    /**
     * @param inputDim d, width of the MoE layer's output
     * @param outputs  o, number of regression outputs
     */
    public SquaredErrorHead(int inputDim, int outputs) {
        this.linear = new Linear(WEIGHT, BIAS, "input width d", inputDim, "number of outputs o", outputs);
        this.inputDim = inputDim;
        this.outputs = outputs;
    }

    public int inputDim() {
        return inputDim;
    }

    @Override
    public int outputDim() {
        return outputs;
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
        Matrix t = batch.targets();
        if (t == null) {
            throw new IllegalArgumentException("SquaredErrorHead needs regression targets, the batch has none");
        }
        Init.checkShape("targets", t, m, outputs);
        Scratch s = scratch.get();
        s.residual = Buffers.ensureRows(s.residual, p.precision(), m, outputs);
        Matrix e = s.residual.topRows(m);
        linear.forward(p, y, e);
        if (t.precision() == p.precision()) {
            e.axpy(-1, t);
        } else {
            s.targets = Buffers.ensureRows(s.targets, p.precision(), m, outputs);
            Matrix tc = s.targets.topRows(m);
            tc.copyFrom(t);
            e.axpy(-1, tc);
        }
        float[] weights = batch.weights();
        double loss;
        if (weights == null) {
            loss = 0.5 * e.sumOfSquares();
            e.scale(lossScale); // dL/dyhat = lossScale * (yhat - t)
        } else {
            double[] rowScale = s.rowScale = Buffers.ensure(s.rowScale, m);
            double sum = 0;
            for (int r = 0; r < m; r++) {
                sum += weights[r] * e.dotRows(r, e, r);
                rowScale[r] = lossScale * weights[r];
            }
            loss = 0.5 * sum;
            e.scaleRows(rowScale, 0); // dL/dyhat_r = lossScale * w_r * (yhat_r - t_r)
        }
        linear.backward(p, y, e, grad, dY);
        return loss;
    }

    /** out (m x o) = y W + b. */
    @Override
    public void predict(Parameters p, Matrix y, Matrix out) {
        Init.checkShape("out", out, y.rows(), outputs);
        if (y.cols() != inputDim) {
            throw new IllegalArgumentException("y has " + y.cols() + " columns, the head expects d = " + inputDim);
        }
        linear.forward(p, y, out);
    }


    private static final class Scratch {
        Matrix residual;
        Matrix targets;
        double[] rowScale;
    }

    @Override
    public String toString() {
        return "SquaredErrorHead{" + inputDim + " -> " + outputs + "}";
    }
}
