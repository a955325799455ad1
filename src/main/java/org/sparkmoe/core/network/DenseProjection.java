package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Feature-vector input layer (docs/DESIGN.md section 5): {@code out = x W + b}, {@code d_in -> d}, with
 * {@value #WEIGHT} ({@code d_in x d}) and {@value #BIAS} ({@code 1 x d}). Features must be finite.
 * Features stored in another precision than the parameters are converted into a per-thread scratch
 * buffer first.
 */
public final class DenseProjection implements InputLayer, Serializable {
    private static final long serialVersionUID = 1L;

    public static final String WEIGHT = "input.weight";
    public static final String BIAS = "input.bias";

    private final int inputDim;
    private final int outputDim;
    private final Linear linear;
    private final PerThread<Scratch> scratch = new PerThread<>(Scratch::new);

    /**
     * @param inputDim  d_in, width of the feature rows
     * @param outputDim d, width of the rows fed to the MoE layer
     */
    public DenseProjection(int inputDim, int outputDim) {
        this.linear = new Linear(WEIGHT, BIAS, "input width d_in", inputDim, "output width d", outputDim);
        this.inputDim = inputDim;
        this.outputDim = outputDim;
    }

    public int inputDim() {
        return inputDim;
    }

    @Override
    public int outputDim() {
        return outputDim;
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
    public void forward(Parameters p, Batch batch, Matrix out) {
        Init.checkShape("output", out, batch.size(), outputDim);
        linear.forward(p, features(p, batch), out);
    }

    @Override
    public void backward(Parameters p, Batch batch, Matrix dOut, Parameters grad) {
        Init.checkShape("dOut", dOut, batch.size(), outputDim);
        linear.backward(p, features(p, batch), dOut, grad, null);
    }

    /** The batch's features, validated, in the parameters' precision. */
    private Matrix features(Parameters p, Batch batch) {
        Matrix f = batch.features();
        if (f == null) {
            throw new IllegalArgumentException("DenseProjection needs a feature batch (Batch.ofFeatures), got a token batch");
        }
        if (f.cols() != inputDim) {
            throw new IllegalArgumentException("features have " + f.cols() + " columns, the layer expects d_in = " + inputDim);
        }
        int bad = f.firstNonFinite();
        if (bad >= 0) {
            int r = bad / inputDim, c = bad % inputDim;
            throw new IllegalArgumentException("feature at row " + r + ", column " + c + " is not finite: " + f.get(r, c));
        }
        int m = f.rows();
        if (f.precision() == p.precision()) {
            return f;
        }
        Scratch s = scratch.get();
        s.converted = Buffers.ensureRows(s.converted, p.precision(), m, inputDim);
        Matrix x = s.converted.topRows(m);
        x.copyFrom(f);
        return x;
    }


    private static final class Scratch {
        Matrix converted;
    }

    @Override
    public String toString() {
        return "DenseProjection{" + inputDim + " -> " + outputDim + "}";
    }
}
