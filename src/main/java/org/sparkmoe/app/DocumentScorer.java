package org.sparkmoe.app;

import java.util.List;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.recurrent.SequenceBatch;

/**
 * The one per-document scoring pass of the recurrent language model for both faces (the job's score
 * and the ML model's transform): each document is read from a zero LSTM state, the state carried
 * through the whole document in windows of T tokens, {@code S} documents side by side (no noise, no
 * dropout: rows are independent, so the numbers do not depend on S or on which documents share a
 * window). A document of n words has the n + 1 targets {@code [END w1 .. wn] -> [w1 .. wn END]} (as
 * in training and the engine's held-out evaluation, so the summed log-likelihoods of a corpus give
 * its held-out perplexity); an empty document has none. The next-token distribution after the
 * document is the model's prediction at its last position (input wn, or END for an empty document):
 * the {@code topK} most probable tokens are kept with their probabilities.
 *
 * <p>One scorer per thread (it holds the model's workspace and its output buffer).
 */
public final class DocumentScorer {
    private final RecurrentLanguageModel model;
    private final ModelParameters params;
    private final int steps;
    private final int sequences;
    private final int endToken;
    private final int topK;
    private final RecurrentLanguageModel.Workspace ws;
    private Matrix out;

    /** What a call of {@link #score} gives, by document in the order given. */
    public record Scores(double[] logLikelihood, int[] targets, int[][] nextTokens, double[][] nextProbabilities) {
        /** exp(-logLikelihood / targets) of document {@code i}; NaN without targets. */
        public double perplexity(int i) {
            return targets[i] == 0 ? Double.NaN : Math.exp(-logLikelihood[i] / targets[i]);
        }
    }

    /**
     * @param steps     T, tokens per window
     * @param sequences S, documents scored side by side
     * @param endToken  the end-of-document id
     * @param topK      next tokens kept per document (0: none), at most V
     */
    public DocumentScorer(RecurrentLanguageModel model, ModelParameters params, int steps, int sequences, int endToken, int topK) {
        if (steps <= 0 || sequences <= 0) throw new IllegalArgumentException("need T >= 1 and S >= 1, got T=" + steps + ", S=" + sequences);
        if (topK < 0 || topK > model.vocabulary()) {
            throw new IllegalArgumentException("topK must be in [0, V = " + model.vocabulary() + "], got " + topK);
        }
        this.model = model;
        this.params = params;
        this.steps = steps;
        this.sequences = sequences;
        this.endToken = endToken;
        this.topK = topK;
        this.ws = model.newWorkspace(params.shared().precision());
    }

    /** Scores {@code documents} (word ids without the end token). */
    public Scores score(List<int[]> documents) {
        int n = documents.size();
        double[] ll = new double[n];
        int[] targets = new int[n];
        int[][] next = new int[n][topK];
        double[][] nextP = new double[n][topK];
        if (n == 0) return new Scores(ll, targets, next, nextP);
        int s = Math.min(sequences, n);
        DocumentStreams ds = new DocumentStreams(s, steps, k -> documents.get((int) k), endToken, 0, n, false);
        RecurrentState state = model.newState(params.shared().precision(), s);
        int v = model.vocabulary();
        out = Buffers.ensureRows(out, params.shared().precision(), s * steps, v);
        Matrix o = out.topRows(s * steps);
        while (ds.hasNext()) {
            SequenceBatch b = ds.next();
            model.predict(params, b, state, ws, o);
            int[] tg = b.targets();
            long[] ids = b.tokenIds();
            for (int r = 0; r < tg.length; r++) {
                if (tg[r] < 0) continue;
                int k = (int) (ids[r] / DocumentStreams.MAX_DOCUMENT);
                int i = (int) (ids[r] % DocumentStreams.MAX_DOCUMENT);
                int len = documents.get(k).length;
                if (len > 0) {
                    ll[k] += Math.log(Math.max(o.get(r, tg[r]), Double.MIN_NORMAL));
                    targets[k]++;
                }
                if (i == len) best(o, r, next[k], nextP[k]);
            }
        }
        return new Scores(ll, targets, next, nextP);
    }

    /** The {@code ids.length} largest entries of row r, largest first (the first of equal ones first). */
    private static void best(Matrix o, int r, int[] ids, double[] p) {
        int kept = 0;
        for (int c = 0, v = o.cols(); c < v; c++) {
            double x = o.get(r, c);
            if (kept == ids.length && (kept == 0 || x <= p[kept - 1])) continue;
            int j = kept < ids.length ? kept++ : kept - 1;
            while (j > 0 && p[j - 1] < x) {
                p[j] = p[j - 1];
                ids[j] = ids[j - 1];
                j--;
            }
            p[j] = x;
            ids[j] = c;
        }
    }
}
