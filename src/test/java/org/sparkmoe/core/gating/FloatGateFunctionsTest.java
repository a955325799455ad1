package org.sparkmoe.core.gating;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The float32 path's table functions against the exact forms, inside their tables, across their edges and beyond. */
class FloatGateFunctionsTest {

    @Test
    void softplusAndSigmoidToFloatPrecision() {
        double[] sg = new double[1], sm = new double[1], exactSg = new double[1], exactSm = new double[1];
        for (double v = -30; v <= 30; v += 0.000731) {
            FloatGateFunctions.softplus(v, sg, sm, 0);
            NoisyTopKGating.softplus(v, NoisyTopKGating.NOISE_EPSILON, exactSg, exactSm, 0);
            double sigma = exactSg[0];
            double sigmoid = exactSm[0];
            double vv = v;
            // float's half ulp is 6e-8 of the value
            assertTrue(Math.abs(sg[0] - sigma) <= 3e-8 * sigma, () -> "sigma at " + vv + ": " + sg[0] + " against " + sigma);
            assertTrue(Math.abs(sm[0] - sigmoid) <= 1e-8, () -> "sigmoid at " + vv + ": " + sm[0] + " against " + sigmoid);
        }
        FloatGateFunctions.softplus(-20, sg, sm, 0);
        NoisyTopKGating.softplus(-20, 0, exactSg, exactSm, 0);
        assertEquals(exactSm[0], sm[0], 1e-20, "a node is exact");
    }

    @Test
    void cdfAndDensityToFloatPrecision() {
        double errAbs = 0, errRel3 = 0, errRel7 = 0, dAbs = 0, dRel = 0;
        for (double z = -12; z <= 12; z += 0.000731) {
            double exact = NormalDistribution.cdf(z);
            double table = FloatGateFunctions.cdf(z);
            errAbs = Math.max(errAbs, Math.abs(table - exact));
            if (exact > 1e-3) errRel3 = Math.max(errRel3, Math.abs(table - exact) / exact);
            if (exact > 1e-7) errRel7 = Math.max(errRel7, Math.abs(table - exact) / exact);
            double d = NormalDistribution.density(z);
            dAbs = Math.max(dAbs, Math.abs(FloatGateFunctions.density(z) - d));
            if (d > 1e-7) dRel = Math.max(dRel, Math.abs(FloatGateFunctions.density(z) - d) / d);
        }
        // measured: 8.5e-11, 1.1e-8, 1.0e-7; 1.9e-10, 1.2e-7 (float's half ulp is 6e-8 of a value; a load sums Phi over
        // rows, so values below 1e-7 of a row's 1 do not reach float's resolution of it)
        assertTrue(errAbs <= 2e-10, "Phi absolute " + errAbs);
        assertTrue(errRel3 <= 2e-8, "Phi relative where above 1e-3: " + errRel3);
        assertTrue(errRel7 <= 2e-7, "Phi relative where above 1e-7: " + errRel7);
        assertTrue(dAbs <= 4e-10, "phi absolute " + dAbs);
        assertTrue(dRel <= 2.5e-7, "phi relative where above 1e-7: " + dRel);
        assertEquals(0.0, FloatGateFunctions.cdf(Double.NEGATIVE_INFINITY));
        assertEquals(1.0, FloatGateFunctions.cdf(Double.POSITIVE_INFINITY));
        assertTrue(Double.isNaN(FloatGateFunctions.cdf(Double.NaN)));
    }
    /** The block forms give what the single calls give, bit for bit, in the tables and outside them (and for NaN). */
    @Test
    void blockFormsEqualSingleCalls() {
        int count = 4001;
        float[] v = new float[count + 3];
        for (int i = 0; i < count; i++) v[3 + i] = (float) (-30 + 60.0 * i / (count - 1));
        v[3 + 17] = Float.NaN;
        double[] sg = new double[count], sm = new double[count], one = new double[1], oneM = new double[1];
        FloatGateFunctions.softplusAll(v, 3, count, sg, sm);
        for (int i = 0; i < count; i++) {
            FloatGateFunctions.softplus(v[3 + i], one, oneM, 0);
            assertEquals(one[0], sg[i], 0.0, "sigma at " + v[3 + i]);
            assertEquals(oneM[0], sm[i], 0.0, "sigmoid at " + v[3 + i]);
        }
        double[] w = new double[1];
        for (double z = -9; z <= 9; z += 0.00731) {
            assertEquals(FloatGateFunctions.cdf(z), FloatGateFunctions.cdfAndDensity(z, 0.37, w, 0), 0.0);
            assertEquals(FloatGateFunctions.density(z) * 0.37, w[0], 0.0);
        }
    }
}
