package org.sparkmoe.core.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

class SgdTest {
    static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 1, 3).build();

    static Parameters of(double... v) {
        Parameters p = LAYOUT.allocate(Precision.F64);
        for (int i = 0; i < v.length; i++) p.flat().setFlat(i, v[i]);
        return p;
    }

    @Test
    void plainStepIsMinusLearningRateTimesGradient() {
        Sgd sgd = new Sgd();
        Parameters p = of(1, 2, 3);
        OptimiserState state = sgd.newState(p);
        assertTrue(state.slots().isEmpty());
        sgd.step(p, of(0.5, -1, 0), state, 1, 0.1);
        assertEquals(0.95, p.flat().getFlat(0), 1e-15);
        assertEquals(2.1, p.flat().getFlat(1), 1e-15);
        assertEquals(3.0, p.flat().getFlat(2), 0.0);
    }

    @Test
    void momentumAccumulatesVelocity() {
        Sgd sgd = new Sgd(0.9);
        Parameters p = of(0, 0, 0);
        OptimiserState state = sgd.newState(p);
        sgd.step(p, of(1, 0, 0), state, 1, 0.1); // u = 1, p = -0.1
        sgd.step(p, of(1, 0, 0), state, 2, 0.1); // u = 1.9, p = -0.29
        assertEquals(1.9, state.slot(Sgd.VELOCITY).flat().getFlat(0), 1e-15);
        assertEquals(-0.29, p.flat().getFlat(0), 1e-15);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.9})
    void minimisesAQuadratic(double momentum) {
        double[] a = {0.5, 1.0, 4.0}, c = {1.5, -2.0, 0.25};
        Sgd sgd = new Sgd(momentum);
        Parameters p = of(0, 0, 0);
        Parameters g = p.zerosLike();
        OptimiserState state = sgd.newState(p);
        for (long t = 1; t <= 2000; t++) {
            for (int i = 0; i < 3; i++) g.flat().setFlat(i, a[i] * (p.flat().getFlat(i) - c[i]));
            sgd.step(p, g, state, t, 0.05);
        }
        for (int i = 0; i < 3; i++) assertEquals(c[i], p.flat().getFlat(i), 1e-6);
    }

    @Test
    void validatesArguments() {
        assertThrows(IllegalArgumentException.class, () -> new Sgd(1.0));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(-0.5));
        Sgd sgd = new Sgd();
        Parameters p = of(1, 2, 3);
        assertThrows(IllegalArgumentException.class, () -> sgd.step(p, p.zerosLike(), sgd.newState(p), 0, 0.1));
        assertThrows(IllegalArgumentException.class, () -> sgd.step(p, p.zerosLike(), sgd.newState(p), 1, -1));
    }
}
