package org.sparkmoe.core.recurrent;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.testing.GradientCheck;

/**
 * Central differences for one LSTM layer over a window with a non-zero entering state: W, U, b, the
 * input x and the entering (h, c) against L = sum(R * h_1..T) for a fixed random R.
 */
class LstmLayerGradientTest {
    private static final Precision F64 = Precision.F64;

    @Test
    void everyTensorInputAndEnteringState() {
        int in = 5, d = 4, s = 3, steps = 6, m = s * steps;
        LstmLayer lstm = new LstmLayer("l.", in, d);
        SplittableRandom r = new SplittableRandom(11);
        Parameters p = initialised(lstm, r);
        // move the bias off its initial values so that every gate is away from its symmetric point
        Matrix bias = p.get(lstm.bias());
        for (int i = 0; i < bias.size(); i++) bias.setFlat(i, bias.getFlat(i) + 0.3 * r.nextGaussian());
        Matrix x = random(m, in, r);
        Matrix h0 = random(s, d, r);
        Matrix c0 = random(s, d, r);
        Matrix weights = random(m, d, r);
        LstmLayer.Workspace ws = lstm.newWorkspace(F64);

        DoubleSupplier loss = () -> {
            Matrix h = lstm.forward(p, x, s, h0, c0, ws);
            double l = 0;
            for (int i = 0; i < h.size(); i++) l += weights.getFlat(i) * h.getFlat(i);
            return l;
        };
        loss.getAsDouble();
        Parameters grad = p.zerosLike();
        Matrix dx = F64.zeros(m, in);
        lstm.backward(p, x, weights, ws, grad, dx);
        Matrix dh0 = ws.initialHiddenGradient().copy();
        Matrix dc0 = ws.initialCellGradient().copy();

        GradientCheck.check("lstm", p, grad, loss, 200);
        GradientCheck.check("lstm.x", x, dx, loss, 200);
        GradientCheck.check("lstm.h0", h0, dh0, loss, 200);
        GradientCheck.check("lstm.c0", c0, dc0, loss, 200);
        for (Matrix g : new Matrix[] {grad.get(0), grad.get(1), grad.get(2), dx, dh0, dc0}) {
            assertTrue(GradientCheck.hasSignal(g), "vacuous gradient " + g);
        }
    }

    @Test
    void finalStateIsTheLastTimestep() {
        int d = 3, s = 2, steps = 4;
        LstmLayer lstm = new LstmLayer("l.", d, d);
        SplittableRandom r = new SplittableRandom(5);
        Parameters p = initialised(lstm, r);
        LstmLayer.Workspace ws = lstm.newWorkspace(F64);
        Matrix h = lstm.forward(p, random(s * steps, d, r), s, F64.zeros(s, d), F64.zeros(s, d), ws);
        for (int q = 0; q < s; q++) {
            for (int j = 0; j < d; j++) {
                assertTrue(h.get((steps - 1) * s + q, j) == ws.finalHidden().get(q, j));
            }
        }
    }

    private static Parameters initialised(LstmLayer lstm, SplittableRandom r) {
        ParameterLayout.Builder b = ParameterLayout.builder();
        lstm.declare(b);
        Parameters p = b.build().allocate(F64);
        lstm.initialise(p, r);
        return p;
    }

    static Matrix random(int rows, int cols, SplittableRandom r) {
        Matrix m = F64.zeros(rows, cols);
        for (int i = 0; i < m.size(); i++) m.setFlat(i, r.nextGaussian());
        return m;
    }
}
