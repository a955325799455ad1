package org.sparkmoe.core.expert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.Parameters;

class ExpertBackwardTest {

    /**
     * Overwriting the gradient (what an expert shard does, its buffers holding last step's values)
     * gives bit for bit what accumulating into zeros gives, and the same dL/dx; accumulating adds.
     */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void overwritingEqualsAccumulatingIntoZeros(Precision precision) {
        Expert expert = new Expert(6, 9);
        SplittableRandom random = new SplittableRandom(4);
        Parameters p = expert.initialise(precision, random);
        p.fill(() -> random.nextDouble() - 0.5);
        int m = 13;
        Matrix x = random(precision, m, 6, random);
        Matrix dOut = random(precision, m, 6, random);
        ExpertWorkspace ws = new ExpertWorkspace(precision, 9);
        expert.forward(p, x, ws, precision.zeros(m, 6));

        Parameters intoZeros = p.zerosLike();
        Matrix dxA = precision.zeros(m, 6);
        expert.backward(p, x, ws, dOut, dxA, intoZeros);

        Parameters stale = p.zerosLike();
        stale.fill(() -> random.nextDouble() * 100);
        Matrix dxB = precision.zeros(m, 6);
        expert.backward(p, x, ws, dOut, dxB, stale, false);
        for (int i = 0; i < intoZeros.flat().size(); i++) {
            assertEquals(Double.doubleToRawLongBits(intoZeros.flat().getFlat(i)), Double.doubleToRawLongBits(stale.flat().getFlat(i)),
                    "gradient element " + i);
        }
        for (int i = 0; i < dxA.size(); i++) {
            assertEquals(Double.doubleToRawLongBits(dxA.getFlat(i)), Double.doubleToRawLongBits(dxB.getFlat(i)), "dx element " + i);
        }

        expert.backward(p, x, ws, dOut, null, stale, true);
        for (int i = 0; i < intoZeros.flat().size(); i++) {
            assertEquals(2 * intoZeros.flat().getFlat(i), stale.flat().getFlat(i), precision == Precision.F32 ? 1e-5 : 1e-12,
                    "accumulated gradient element " + i);
        }
    }

    private static Matrix random(Precision precision, int rows, int cols, SplittableRandom random) {
        Matrix m = precision.zeros(rows, cols);
        for (int i = 0; i < m.size(); i++) m.setFlat(i, random.nextDouble() * 2 - 1);
        return m;
    }
}
