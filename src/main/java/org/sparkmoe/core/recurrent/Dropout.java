package org.sparkmoe.core.recurrent;

import java.io.Serializable;

import org.sparkmoe.core.linalg.Matrix;

/**
 * Inverted dropout with a reproducible mask (paper appendix C: drop each activation with
 * probability p, otherwise divide it by 1 - p). Whether unit j of a row is kept is a pure function
 * of (seed, step, the row's global token id, layer, j), a counter-based hash like the gate noise of
 * {@link org.sparkmoe.core.gating.GateNoise}: a token gets the same mask however the data is
 * partitioned, and a recomputed partition gets the same numbers.
 */
public final class Dropout implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final double INV_2_53 = 1.0 / (1L << 53);
    /** Keeps the dropout stream apart from the gate-noise stream of the same (seed, step, id). */
    private static final long SALT = 0x2545F4914F6CDD1DL;

    private final double rate;
    private final long seed;
    private final long step;

    private Dropout(double rate, long seed, long step) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException("dropout rate must be in [0, 1), got " + rate);
        }
        this.rate = rate;
        this.seed = seed;
        this.step = step;
    }

    /** Dropout for training step {@code step} of a run with {@code seed}. */
    public static Dropout training(double rate, long seed, long step) {
        return new Dropout(rate, seed, step);
    }

    /** No dropout: evaluation and scoring. */
    public static Dropout none() {
        return new Dropout(0, 0, 0);
    }

    public double rate() {
        return rate;
    }

    public boolean enabled() {
        return rate > 0;
    }

    /** 1/(1-p) if unit {@code unit} of the row with global id {@code rowId} is kept in {@code layer}, else 0. */
    public double multiplier(long rowId, int layer, int unit) {
        if (rate == 0) return 1;
        return keep(rowBase(rowId, layer), unit) ? 1 / (1 - rate) : 0;
    }

    private long rowBase(long rowId, int layer) {
        long h = mix64(seed ^ SALT);
        h = mix64(h ^ step * 0xBF58476D1CE4E5B9L);
        h = mix64(h ^ rowId * 0x94D049BB133111EBL);
        return mix64(h ^ (layer + 1L) * 0xD6E8FEB86659FD93L);
    }

    private boolean keep(long base, int unit) {
        return (mix64(base + (unit + 1L) * 0x9E3779B97F4A7C15L) >>> 11) * INV_2_53 >= rate;
    }

    /**
     * {@code out = in * mask + residual} ({@code residual} may be null), writing the mask of
     * {@code layer} for rows with global ids {@code rowIds} into {@code mask} (same shape) for the
     * backward pass.
     */
    public void forward(Matrix in, Matrix residual, long[] rowIds, int layer, Matrix mask, Matrix out) {
        int m = in.rows(), d = in.cols();
        double scale = 1 / (1 - rate);
        for (int r = 0; r < m; r++) {
            long base = rate == 0 ? 0 : rowBase(rowIds[r], layer);
            for (int j = 0, o = r * d; j < d; j++) {
                double k = rate == 0 ? 1 : keep(base, j) ? scale : 0;
                mask.setFlat(o + j, k);
                out.setFlat(o + j, k * in.getFlat(o + j) + (residual == null ? 0 : residual.getFlat(o + j)));
            }
        }
    }

    /** {@code dIn = dOut * mask} for the mask a {@link #forward} wrote. */
    public static void backward(Matrix dOut, Matrix mask, Matrix dIn) {
        for (int i = 0, n = dOut.size(); i < n; i++) dIn.setFlat(i, dOut.getFlat(i) * mask.getFlat(i));
    }

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public String toString() {
        return "Dropout{p=" + rate + ", seed=" + seed + ", step=" + step + "}";
    }
}
