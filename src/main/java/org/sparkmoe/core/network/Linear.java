package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The affine map {@code y = x W + b} (W: in x out, b: 1 x out) under two tensor names: the part the
 * dense input layer and both heads share.
 */
final class Linear implements Serializable {
    private static final long serialVersionUID = 1L;

    final String weight;
    final String bias;
    final int in;
    final int out;

    /** {@code inWhat}/{@code outWhat} name the sizes in error messages, e.g. "input width d". */
    Linear(String weight, String bias, String inWhat, int in, String outWhat, int out) {
        Init.checkPositive(inWhat, in);
        Init.checkPositive(outWhat, out);
        if ((long) in * out > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("weight " + in + " x " + out + " exceeds 2^31 - 1 elements");
        }
        this.weight = weight;
        this.bias = bias;
        this.in = in;
        this.out = out;
    }

    void declare(ParameterLayout.Builder layout) {
        layout.add(weight, in, out).add(bias, 1, out);
    }

    /** Glorot-uniform weight, zero bias. */
    void initialise(Parameters p, SplittableRandom random) {
        Init.glorotUniform(p.get(weight), random);
        p.get(bias).fill(0);
    }

    /** y = x W + b. */
    void forward(Parameters p, Matrix x, Matrix y) {
        y.gemm(1, x, false, p.get(weight), false, 0);
        y.addRowVector(p.get(bias));
    }

    /** Accumulates dL/dW and dL/db for dL/dy = {@code dY}; writes dL/dx into {@code dX} when non-null. */
    void backward(Parameters p, Matrix x, Matrix dY, Parameters grad, Matrix dX) {
        grad.get(weight).gemm(1, x, true, dY, false, 1);
        dY.addColumnSumsTo(grad.get(bias));
        if (dX != null) {
            dX.gemm(1, dY, false, p.get(weight), true, 0);
        }
    }
}
