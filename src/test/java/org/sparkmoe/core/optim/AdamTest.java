package org.sparkmoe.core.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

class AdamTest {
    static final ParameterLayout LAYOUT = ParameterLayout.builder().add("a", 2, 3).add("b", 1, 4).build();

    static Parameters values(Precision precision, double... v) {
        ParameterLayout layout = ParameterLayout.builder().add("x", 1, v.length).build();
        Parameters p = layout.allocate(precision);
        for (int i = 0; i < v.length; i++) p.flat().setFlat(i, v[i]);
        return p;
    }

    /** With bias correction, step 1 moves every parameter by lr * g / (|g| + eps) = lr * sign(g), whatever |g|. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void firstStepMovesEachParameterByLearningRateTimesSign(Precision precision) {
        SplittableRandom random = new SplittableRandom(1);
        Parameters p = LAYOUT.allocate(precision);
        p.fill(() -> random.nextDouble() * 2 - 1);
        Parameters before = p.copy();
        Parameters g = LAYOUT.allocate(precision);
        double[] magnitudes = {1e-3, 1e-1, 1, 10, 1e3};
        for (int i = 0; i < g.flat().size(); i++) {
            g.flat().setFlat(i, (i % 2 == 0 ? 1 : -1) * magnitudes[i % magnitudes.length]);
        }
        Adam adam = new Adam();
        double lr = 1e-2;
        adam.step(p, g, adam.newState(p), 1, lr);
        for (int i = 0; i < p.flat().size(); i++) {
            double moved = p.flat().getFlat(i) - before.flat().getFlat(i);
            double expected = -lr * Math.signum(g.flat().getFlat(i));
            assertEquals(expected, moved, (precision == Precision.F32 ? 1e-6 : 1e-9) + 1e-4 * lr, "element " + i);
        }
    }

    /** Two steps computed by hand (beta1 0.9, beta2 0.999, eps 1e-8, lr 0.1). */
    @Test
    void twoStepsMatchHandComputation() {
        Adam adam = new Adam(0.9, 0.999, 1e-8);
        Parameters p = values(Precision.F64, 1.0, -2.0, 0.5);
        OptimiserState state = adam.newState(p);
        adam.step(p, values(Precision.F64, 0.5, -1.0, 0.0), state, 1, 0.1);
        // t=1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 -> p -= 0.1 sign(g); a zero gradient leaves p alone.
        assertEquals(0.9, p.flat().getFlat(0), 1e-8);
        assertEquals(-1.9, p.flat().getFlat(1), 1e-8);
        assertEquals(0.5, p.flat().getFlat(2), 0.0);
        adam.step(p, values(Precision.F64, -0.25, 3.0, 2.0), state, 2, 0.1);
        // t=2, element 0: m = 0.9*0.05 + 0.1*(-0.25) = 0.02, v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225,
        // mhat = 0.02/0.19, vhat = 0.00031225/0.001999 -> p = 0.9 - 0.1*0.105263/0.395225 = 0.8733663
        assertEquals(0.02, state.slot(Adam.FIRST_MOMENT).flat().getFlat(0), 1e-15);
        assertEquals(0.00031225, state.slot(Adam.SECOND_MOMENT).flat().getFlat(0), 1e-15);
        assertEquals(0.8733662987078463, p.flat().getFlat(0), 1e-12);
        assertEquals(-1.9494189841087441, p.flat().getFlat(1), 1e-12);
        assertEquals(0.42558631816935444, p.flat().getFlat(2), 1e-12);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void minimisesAQuadratic(Precision precision) {
        // f(p) = 0.5 * sum a_i (p_i - c_i)^2 with curvatures spanning two orders of magnitude.
        int n = LAYOUT.size();
        double[] a = new double[n], c = new double[n];
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < n; i++) {
            a[i] = Math.pow(10, 2 * random.nextDouble() - 1);
            c[i] = 4 * random.nextDouble() - 2;
        }
        Parameters p = LAYOUT.allocate(precision);
        Parameters g = p.zerosLike();
        Adam adam = new Adam();
        OptimiserState state = adam.newState(p);
        LearningRateSchedule schedule = LearningRateSchedule.warmupInverseSqrt(0.1, 20);
        for (long t = 1; t <= 3000; t++) {
            for (int i = 0; i < n; i++) g.flat().setFlat(i, a[i] * (p.flat().getFlat(i) - c[i]));
            adam.step(p, g, state, t, schedule.rate(t));
        }
        for (int i = 0; i < n; i++) assertEquals(c[i], p.flat().getFlat(i), 1e-3, "element " + i);
    }

    @Test
    void stateHasTheParametersLayoutAndPrecisionAndCopiesDeeply() {
        Parameters p = LAYOUT.allocate(Precision.F32);
        Adam adam = new Adam();
        OptimiserState state = adam.newState(p);
        assertEquals(List.of(Adam.FIRST_MOMENT, Adam.SECOND_MOMENT), state.slots().stream().map(OptimiserState.Slot::name).toList());
        for (OptimiserState.Slot s : state.slots()) {
            assertEquals(LAYOUT, s.values().layout());
            assertEquals(Precision.F32, s.values().precision());
        }
        Parameters g = p.zerosLike();
        g.fill(() -> 1.0);
        OptimiserState copy = state.copy();
        adam.step(p, g, state, 1, 0.1);
        assertEquals(0.1, state.slot(Adam.FIRST_MOMENT).flat().getFlat(0), 1e-7);
        assertEquals(0.0, copy.slot(Adam.FIRST_MOMENT).flat().getFlat(0), 0.0, "copy must not share storage");
        assertThrows(IllegalArgumentException.class, () -> state.slot("nope"));
    }

    @Test
    void validatesArguments() {
        assertThrows(IllegalArgumentException.class, () -> new Adam(1.0, 0.999, 1e-8));
        assertThrows(IllegalArgumentException.class, () -> new Adam(0.9, -0.1, 1e-8));
        assertThrows(IllegalArgumentException.class, () -> new Adam(0.9, 0.999, 0));
        assertThrows(IllegalArgumentException.class, () -> new Adam(Double.NaN, 0.999, 1e-8));
        Adam adam = new Adam();
        Parameters p = LAYOUT.allocate(Precision.F64);
        OptimiserState state = adam.newState(p);
        assertThrows(IllegalArgumentException.class, () -> adam.step(p, p.zerosLike(), state, 0, 0.1), "step counts from 1");
        assertThrows(IllegalArgumentException.class, () -> adam.step(p, p.zerosLike(), state, 1, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> adam.step(p, p.to(Precision.F32), state, 1, 0.1));
        Parameters other = values(Precision.F64, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> adam.step(other, other.zerosLike(), state, 1, 0.1));
        assertThrows(IllegalArgumentException.class, () -> adam.step(p, p.zerosLike(), adam.newState(p.to(Precision.F32)), 1, 0.1));
    }

    /**
     * The fused stepInto (scaled gradient, values written elsewhere, inputs untouched) is
     * bit-identical to copy, scale, then step, for both optimisers' overrides and the default.
     */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void stepIntoIsBitIdenticalToCopyScaleAndStep(Precision precision) {
        for (Optimiser opt : List.of(new Adam(), new Sgd(0.9), new Sgd())) {
            SplittableRandom random = new SplittableRandom(3);
            Parameters p = LAYOUT.allocate(precision);
            p.fill(() -> random.nextDouble() * 2 - 1);
            OptimiserState state = opt.newState(p);
            for (long t = 1; t <= 3; t++) {
                Parameters g = LAYOUT.allocate(precision);
                g.fill(() -> random.nextDouble() * 4 - 2);
                Parameters gBefore = g.copy();
                Parameters pBefore = p.copy();
                double scale = t == 2 ? 1.0 : 0.37;
                Parameters expected = p.copy();
                OptimiserState expectedState = state.copy();
                Parameters scaled = g.copy();
                if (scale != 1.0) scaled.flat().scale(scale);
                opt.step(expected, scaled, expectedState, t, 0.01);

                Parameters to = LAYOUT.allocate(precision);
                OptimiserState stateTo = opt.newState(to);
                opt.stepInto(p, state, g, scale, to, stateTo, t, 0.01);
                assertBitsEqual(expected, to, opt + " step " + t);
                for (int s = 0; s < state.slots().size(); s++) {
                    assertBitsEqual(expectedState.slots().get(s).values(), stateTo.slots().get(s).values(), opt + " slot " + s);
                }
                assertBitsEqual(pBefore, p, "input parameters modified");
                assertBitsEqual(gBefore, g, "gradient modified");
                p = to;
                state = stateTo;
            }
        }
    }

    /**
     * float32 over more than one chunk of the split update loops: bit-identical to Algorithm 1 as one
     * scalar loop, both where all arrays share an offset (the vectorised loops) and where they are
     * views at different offsets (the scalar fallback), for stepInto and the in-place step.
     */
    @Test
    void float32UpdateLoopsAreBitIdenticalToOneScalarLoop() {
        int n = 2500;
        ParameterLayout layout = ParameterLayout.builder().add("x", 1, n).build();
        SplittableRandom random = new SplittableRandom(11);
        float[][] in = new float[4][n]; // p, g, m, v
        for (int i = 0; i < n; i++) {
            in[0][i] = (float) (random.nextDouble() * 2 - 1);
            in[1][i] = i % 13 == 0 ? 0f : (float) ((random.nextDouble() * 2 - 1) * Math.pow(10, -random.nextInt(6)));
            in[2][i] = (float) ((random.nextDouble() * 2 - 1) * 1e-2);
            in[3][i] = (float) (random.nextDouble() * 1e-4);
        }
        Adam adam = new Adam(0.9, 0.999, 1e-8);
        long t = 7;
        double lr = 3e-3;
        for (double scale : new double[]{1.0, 0.37}) {
            float[][] want = scalarAdam(in, scale, t, lr);
            for (int shift : new int[]{0, 1}) {
                // shift 1: every array at its own offset, so the fallback loop runs
                Parameters p = at(layout, in[0], 0), g = at(layout, in[1], shift), q = at(layout, new float[n], 2 * shift);
                OptimiserState from = state(layout, at(layout, in[2], 3 * shift), at(layout, in[3], 4 * shift));
                OptimiserState to = state(layout, at(layout, new float[n], 5 * shift), at(layout, new float[n], 6 * shift));
                adam.stepInto(p, from, g, scale, q, to, t, lr);
                String what = "stepInto, scale " + scale + ", shift " + shift;
                assertFloatBits(want[0], q, what + ", parameters");
                assertFloatBits(want[1], to.slot(Adam.FIRST_MOMENT), what + ", m");
                assertFloatBits(want[2], to.slot(Adam.SECOND_MOMENT), what + ", v");
            }
        }
        float[][] want = scalarAdam(in, 1.0, t, lr);
        for (int shift : new int[]{0, 1}) {
            Parameters p = at(layout, in[0], 0), g = at(layout, in[1], shift);
            OptimiserState st = state(layout, at(layout, in[2], 2 * shift), at(layout, in[3], 3 * shift));
            adam.step(p, g, st, t, lr);
            assertFloatBits(want[0], p, "step, shift " + shift + ", parameters");
            assertFloatBits(want[1], st.slot(Adam.FIRST_MOMENT), "step, shift " + shift + ", m");
            assertFloatBits(want[2], st.slot(Adam.SECOND_MOMENT), "step, shift " + shift + ", v");
        }
    }

    /** Algorithm 1 in float32 as one loop, with the same folded constants as {@link Adam}: new p, m, v. */
    private static float[][] scalarAdam(float[][] in, double scale, long t, double lr) {
        int n = in[0].length;
        float b1 = 0.9f, c1 = (float) (1 - 0.9), b2 = 0.999f, c2 = (float) (1 - 0.999), eps = 1e-8f;
        float stepSize = (float) (lr / (1 - Math.pow(0.9, t)));
        float invSqrtBc2 = (float) (1 / Math.sqrt(1 - Math.pow(0.999, t)));
        float s = (float) scale;
        float[][] out = new float[3][n];
        for (int i = 0; i < n; i++) {
            float gi = in[1][i] * s;
            float mi = b1 * in[2][i] + c1 * gi;
            float vi = b2 * in[3][i] + c2 * gi * gi;
            out[1][i] = mi;
            out[2][i] = vi;
            out[0][i] = in[0][i] - stepSize * mi / ((float) Math.sqrt(vi) * invSqrtBc2 + eps);
        }
        return out;
    }

    /** A copy of {@code values} as parameters viewing a larger array from {@code offset}. */
    private static Parameters at(ParameterLayout layout, float[] values, int offset) {
        float[] data = new float[values.length + offset + 3];
        System.arraycopy(values, 0, data, offset, values.length);
        return Parameters.wrap(layout, new org.sparkmoe.core.linalg.FloatMatrix(data, offset, 1, values.length));
    }

    private static OptimiserState state(ParameterLayout layout, Parameters m, Parameters v) {
        return new OptimiserState(layout, List.of(new OptimiserState.Slot(Adam.FIRST_MOMENT, m), new OptimiserState.Slot(Adam.SECOND_MOMENT, v)));
    }

    private static void assertFloatBits(float[] expected, Parameters actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits((float) actual.flat().getFlat(i)), what + ", element " + i);
        }
    }

    private static void assertBitsEqual(Parameters expected, Parameters actual, String what) {
        for (int i = 0; i < expected.flat().size(); i++) {
            assertEquals(Double.doubleToRawLongBits(expected.flat().getFlat(i)), Double.doubleToRawLongBits(actual.flat().getFlat(i)),
                    what + ", element " + i);
        }
    }
}
