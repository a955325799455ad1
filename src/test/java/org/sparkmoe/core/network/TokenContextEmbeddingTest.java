package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.core.network.NetTestUtil.*;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.TokenContextEmbedding.Mode;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.testing.GradientCheck;

class TokenContextEmbeddingTest {
    static final int V = 7, C = 3, E = 4, D = 5, M = 6;
    // Repeats within a row, across rows at the same position, and across positions; token 6 never at position 0.
    static final int[] TOKENS = {
            0, 1, 2,
            3, 3, 3,
            0, 5, 2,
            4, 1, 6,
            0, 0, 0,
            5, 6, 1};

    static Batch batch(int[] tokens) {
        return Batch.ofTokens(M, ids(M), tokens, C, new int[M]);
    }

    /** The layer's tensors after an unrelated tensor, so that offsets are not zero. */
    static ParameterLayout layout(InputLayer layer) {
        ParameterLayout.Builder b = ParameterLayout.builder().add("gate.w", 2, 3);
        layer.declare(b);
        return b.add("head.weight", 2, 2).build();
    }

    static Parameters init(InputLayer layer, Precision precision, long seed) {
        Parameters p = layout(layer).allocate(precision);
        layer.initialise(p, new SplittableRandom(seed));
        fillRandom(p.get(TokenContextEmbedding.BIAS), 0.5, new SplittableRandom(seed + 1)); // non-zero bias for the forward test
        return p;
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void gradientsMatchCentralDifferences(Mode mode) {
        TokenContextEmbedding layer = new TokenContextEmbedding(V, C, E, D, mode);
        Parameters p = init(layer, Precision.F64, 11);
        Batch batch = batch(TOKENS);
        Matrix r = random(Precision.F64, M, D, new SplittableRandom(3));
        Matrix out = Precision.F64.zeros(M, D);
        DoubleSupplier loss = () -> {
            layer.forward(p, batch, out);
            return dot(out, r);
        };
        Parameters grad = p.zerosLike();
        layer.backward(p, batch, r, grad);
        for (String name : new String[] {TokenContextEmbedding.EMBEDDING, TokenContextEmbedding.PROJECTION, TokenContextEmbedding.BIAS}) {
            assertTrue(GradientCheck.hasSignal(grad.get(name)), name + " gradient is all zero");
            double err = GradientCheck.check(mode + "." + name, p.get(name), grad.get(name), loss, 100_000);
            assertTrue(err <= 1e-5);
        }
        assertTrue(allZero(grad.get("gate.w")) && allZero(grad.get("head.weight")), "touched tensors outside input.*");
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void embeddingGradientTouchesOnlyUsedRowsAndAccumulates(Mode mode) {
        TokenContextEmbedding layer = new TokenContextEmbedding(V, C, E, D, mode);
        Parameters p = init(layer, Precision.F64, 5);
        Batch batch = batch(TOKENS);
        Matrix r = random(Precision.F64, M, D, new SplittableRandom(4));
        Parameters grad = p.zerosLike();
        layer.backward(p, batch, r, grad);
        Matrix g = grad.get(TokenContextEmbedding.EMBEDDING);
        boolean[] used = new boolean[C * V];
        for (int i = 0; i < TOKENS.length; i++) used[(i % C) * V + TOKENS[i]] = true;
        for (int row = 0; row < C * V; row++) {
            boolean nonZero = false;
            for (int c = 0; c < E; c++) nonZero |= g.get(row, c) != 0;
            assertEquals(used[row], nonZero, "embedding row " + row + " (position " + row / V + ", token " + row % V + ")");
        }
        Parameters twice = grad.copy();
        layer.backward(p, batch, r, twice);
        for (int i = 0; i < grad.flat().size(); i++) {
            assertEquals(2 * grad.flat().getFlat(i), twice.flat().getFlat(i), 1e-12, "backward must accumulate");
        }
    }

    /** The forward pass against a naive per-element reference: position j uses table j. */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void forwardMatchesNaiveReference(Mode mode) {
        TokenContextEmbedding layer = new TokenContextEmbedding(V, C, E, D, mode);
        Parameters p = init(layer, Precision.F64, 7);
        Matrix out = Precision.F64.zeros(M, D);
        layer.forward(p, batch(TOKENS), out);
        Matrix table = p.get(TokenContextEmbedding.EMBEDDING);
        Matrix proj = p.get(TokenContextEmbedding.PROJECTION);
        Matrix bias = p.get(TokenContextEmbedding.BIAS);
        int in = mode == Mode.SUM ? E : C * E;
        assertEquals(in, layer.projectionInputDim());
        for (int r = 0; r < M; r++) {
            double[] x = new double[in];
            for (int j = 0; j < C; j++) {
                int row = j * V + TOKENS[r * C + j];
                for (int c = 0; c < E; c++) x[mode == Mode.SUM ? c : j * E + c] += table.get(row, c);
            }
            for (int k = 0; k < D; k++) {
                double v = bias.get(0, k);
                for (int i = 0; i < in; i++) v += x[i] * proj.get(i, k);
                assertEquals(v, out.get(r, k), 1e-12, "row " + r + ", output " + k);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void floatAgreesWithDouble(Mode mode) {
        TokenContextEmbedding layer = new TokenContextEmbedding(V, C, E, D, mode);
        Parameters p64 = init(layer, Precision.F64, 9);
        Parameters p32 = p64.to(Precision.F32);
        Matrix out64 = Precision.F64.zeros(M, D);
        Matrix out32 = Precision.F32.zeros(M, D);
        layer.forward(p64, batch(TOKENS), out64);
        layer.forward(p32, batch(TOKENS), out32);
        assertTrue(maxRelativeDifference(out32, out64) <= 1e-4);
    }

    @Test
    void rejectsTokenIdsOutsideTheVocabulary() {
        TokenContextEmbedding layer = new TokenContextEmbedding(V, C, E, D, Mode.CONCAT);
        Parameters p = init(layer, Precision.F64, 1);
        Matrix out = Precision.F64.zeros(M, D);
        int[] bad = TOKENS.clone();
        bad[2 * C + 1] = V; // row 2, position 1
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> layer.forward(p, batch(bad), out));
        assertTrue(e.getMessage().contains("row 2") && e.getMessage().contains("position 1")
                && e.getMessage().contains("token id " + V), e.getMessage());
        int[] negative = TOKENS.clone();
        negative[4 * C] = -1; // row 4, position 0
        e = assertThrows(IllegalArgumentException.class,
                () -> layer.backward(p, batch(negative), out, p.zerosLike()));
        assertTrue(e.getMessage().contains("row 4") && e.getMessage().contains("position 0")
                && e.getMessage().contains("token id -1"), e.getMessage());
    }

    @Test
    void rejectsBadShapesAndArguments() {
        assertThrows(IllegalArgumentException.class, () -> new TokenContextEmbedding(0, C, E, D, Mode.SUM));
        assertThrows(IllegalArgumentException.class, () -> new TokenContextEmbedding(V, 0, E, D, Mode.SUM));
        assertThrows(IllegalArgumentException.class, () -> new TokenContextEmbedding(V, C, E, D, null));
        TokenContextEmbedding layer = new TokenContextEmbedding(V, C, E, D, Mode.SUM);
        Parameters p = init(layer, Precision.F64, 1);
        Batch wrongContext = Batch.ofTokens(M, ids(M), TOKENS, 2, new int[M]);
        assertThrows(IllegalArgumentException.class, () -> layer.forward(p, wrongContext, Precision.F64.zeros(M, D)));
        assertThrows(IllegalArgumentException.class, () -> layer.forward(p, batch(TOKENS), Precision.F64.zeros(M, D + 1)));
    }

    @Test
    void initialisationHasTheDocumentedScale() {
        int e = 64;
        TokenContextEmbedding layer = new TokenContextEmbedding(500, 2, e, 8, Mode.SUM);
        ParameterLayout.Builder b = ParameterLayout.builder();
        layer.declare(b);
        Parameters p = b.build().allocate(Precision.F64);
        layer.initialise(p, new SplittableRandom(3));
        Matrix t = p.get(TokenContextEmbedding.EMBEDDING);
        double var = t.sumOfSquares() / t.size();
        assertEquals(1.0 / e, var, 0.05 / e, "embedding variance should be 1/e");
        assertTrue(allZero(p.get(TokenContextEmbedding.BIAS)));
        double limit = Math.sqrt(6.0 / (e + 8));
        Matrix w = p.get(TokenContextEmbedding.PROJECTION);
        for (int i = 0; i < w.size(); i++) assertTrue(Math.abs(w.getFlat(i)) <= limit);
    }
}
