package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Language-model input layer (docs/DESIGN.md section 5): the {@code c} previous tokens of an example each
 * go through their position's embedding table ({@code V x e}), the {@code c} embeddings are
 * {@linkplain Mode#SUM summed} (width {@code e}) or {@linkplain Mode#CONCAT concatenated} (width
 * {@code c*e}) and projected to {@code d}: {@code out = x P + b}.
 *
 * <p>Tensors: {@value #EMBEDDING} ({@code c*V x e}: the tables of positions 0..c-1 stacked, so
 * position j, token t is row {@code j*V + t}), {@value #PROJECTION} ({@code e x d} or
 * {@code c*e x d}) and {@value #BIAS} ({@code 1 x d}).
 *
 * <p>Lookups are one {@link Matrix#gatherRows} per batch and the embedding gradient one
 * {@link Matrix#scatterAddRows} (rows of repeated tokens add up). Scratch buffers are per thread
 * and grow to the largest batch seen, so one instance may be shared by the tasks of an executor.
 * {@link #backward} recomputes the lookup (a copy of {@code m*c*e} numbers, small next to the
 * projection GEMM) instead of keeping state from {@link #forward}, so forward and backward of a
 * batch may run on different threads or with other batches in between.
 */
public final class TokenContextEmbedding implements InputLayer, Serializable {
    private static final long serialVersionUID = 1L;

    /** How the {@code c} position embeddings are combined. */
    public enum Mode {
        /** Element-wise sum: the projection sees {@code e} numbers. */
        SUM,
        /** Concatenation in position order: the projection sees {@code c*e} numbers. */
        CONCAT
    }

    public static final String EMBEDDING = "input.embedding";
    public static final String PROJECTION = "input.projection";
    public static final String BIAS = "input.bias";

    private final int vocabulary;
    private final int context;
    private final int embeddingDim;
    private final int outputDim;
    private final Mode mode;
    private final PerThread<Scratch> scratch = new PerThread<>(Scratch::new);

    /**
     * @param vocabulary   V, the number of token ids (valid ids are 0..V-1)
     * @param context      c, tokens per example
     * @param embeddingDim e, width of each position's embedding
     * @param outputDim    d, width of the rows fed to the MoE layer
     * @param mode         how the position embeddings are combined
     */
    public TokenContextEmbedding(int vocabulary, int context, int embeddingDim, int outputDim, Mode mode) {
        Init.checkPositive("vocabulary size V", vocabulary);
        Init.checkPositive("context length c", context);
        Init.checkPositive("embedding width e", embeddingDim);
        Init.checkPositive("output width d", outputDim);
        if (mode == null) {
            throw new IllegalArgumentException("mode must be SUM or CONCAT, got null");
        }
        long tableRows = (long) context * vocabulary;
        if (tableRows * embeddingDim > Integer.MAX_VALUE || (long) context * embeddingDim * outputDim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("embedding tables of " + context + " x " + vocabulary + " x " + embeddingDim
                    + " (or the projection) exceed one flat parameter vector (2^31 - 1 elements)");
        }
        this.vocabulary = vocabulary;
        this.context = context;
        this.embeddingDim = embeddingDim;
        this.outputDim = outputDim;
        this.mode = mode;
    }

    public int vocabulary() {
        return vocabulary;
    }

    public int context() {
        return context;
    }

    public int embeddingDim() {
        return embeddingDim;
    }

    public Mode mode() {
        return mode;
    }

    /** Width of the projection's input: e (SUM) or c*e (CONCAT). */
    public int projectionInputDim() {
        return mode == Mode.SUM ? embeddingDim : context * embeddingDim;
    }

    @Override
    public int outputDim() {
        return outputDim;
    }

    @Override
    public void declare(ParameterLayout.Builder layout) {
        layout.add(EMBEDDING, context * vocabulary, embeddingDim)
                .add(PROJECTION, projectionInputDim(), outputDim)
                .add(BIAS, 1, outputDim);
    }

    /**
     * Embeddings ~ N(0, 1/e), i.e. standard deviation 1/sqrt(e), so each embedding row has expected
     * squared norm 1 whatever e is (the convention of tensor2tensor's embedding initialiser,
     * hidden_size^-0.5): the projection input is O(1) per position and the Glorot-uniform
     * projection then keeps the output variance O(1). Bias zero.
     */
    @Override
    public void initialise(Parameters p, SplittableRandom random) {
        Init.normal(p.get(EMBEDDING), 1.0 / Math.sqrt(embeddingDim), random);
        Init.glorotUniform(p.get(PROJECTION), random);
        p.get(BIAS).fill(0);
    }

    @Override
    public void forward(Parameters p, Batch batch, Matrix out) {
        int m = batch.size();
        Init.checkShape("output", out, m, outputDim);
        Matrix x = lookup(p, batch, scratch.get());
        out.gemm(1, x, false, p.get(PROJECTION), false, 0);
        out.addRowVector(p.get(BIAS));
    }

    @Override
    public void backward(Parameters p, Batch batch, Matrix dOut, Parameters grad) {
        int m = batch.size();
        Init.checkShape("dOut", dOut, m, outputDim);
        Scratch s = scratch.get();
        Matrix x = lookup(p, batch, s);
        Matrix projection = p.get(PROJECTION);
        grad.get(PROJECTION).gemm(1, x, true, dOut, false, 1);
        dOut.addColumnSumsTo(grad.get(BIAS));

        int in = projectionInputDim();
        s.dx = Buffers.ensureRows(s.dx, p.precision(), m, in);
        Matrix dx = s.dx.topRows(m);
        dx.gemm(1, dOut, false, projection, true, 0);
        Matrix gradEmbedding = grad.get(EMBEDDING);
        if (mode == Mode.CONCAT) {
            // m x (c*e) row-major is the same memory as (m*c) x e: row r*c + j is position j of example r.
            gradEmbedding.scatterAddRows(dx.slice(0, m * context, embeddingDim), s.index, 0, m * context, null);
        } else {
            // Every position of example r receives the same dL/dx row; index is position-major.
            for (int j = 0; j < context; j++) {
                gradEmbedding.scatterAddRows(dx, s.index, j * m, m, null);
            }
        }
    }

    /**
     * Validates the token ids, fills {@code s.index} with embedding rows and returns the projection
     * input (m x e or m x c*e), a view of scratch storage.
     */
    private Matrix lookup(Parameters p, Batch batch, Scratch s) {
        int m = batch.size();
        int[] tokens = batch.tokens();
        if (tokens == null) {
            throw new IllegalArgumentException("TokenContextEmbedding needs a token batch (Batch.ofTokens), got a feature batch");
        }
        if (batch.context() != context) {
            throw new IllegalArgumentException("batch context " + batch.context() + " differs from the layer's context " + context);
        }
        int n = m * context;
        int[] index = s.index = Buffers.ensure(s.index, n);
        boolean positionMajor = mode == Mode.SUM;
        for (int r = 0; r < m; r++) {
            for (int j = 0; j < context; j++) {
                int t = tokens[r * context + j];
                if (t < 0 || t >= vocabulary) {
                    throw new IllegalArgumentException("token id " + t + " at row " + r + ", position " + j
                            + " is outside the vocabulary [0, " + vocabulary + ")");
                }
                index[positionMajor ? j * m + r : r * context + j] = j * vocabulary + t;
            }
        }
        Precision precision = p.precision();
        s.gathered = Buffers.ensureRows(s.gathered, precision, n, embeddingDim);
        Matrix gathered = s.gathered.topRows(n);
        gathered.gatherRows(p.get(EMBEDDING), index, 0, n);
        if (mode == Mode.CONCAT) {
            return gathered.slice(0, m, context * embeddingDim);
        }
        s.sum = Buffers.ensureRows(s.sum, precision, m, embeddingDim);
        Matrix sum = s.sum.topRows(m);
        sum.copyFrom(gathered.slice(0, m, embeddingDim));
        for (int j = 1; j < context; j++) {
            sum.axpy(1, gathered.slice(j * m * embeddingDim, m, embeddingDim));
        }
        return sum;
    }


    /** Per-thread reusable buffers. */
    private static final class Scratch {
        int[] index;
        Matrix gathered;
        Matrix sum;
        Matrix dx;
    }

    @Override
    public String toString() {
        return "TokenContextEmbedding{V=" + vocabulary + ", c=" + context + ", e=" + embeddingDim + ", d=" + outputDim
                + ", " + mode + "}";
    }
}
