package org.sparkmoe.app;

import java.util.List;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.recurrent.SequenceBatch;

/**
 * The scoring pass of the recurrent language model (paper section 5.1), for what either face
 * scores: each document read once from a zero LSTM state, the state carried from window to window
 * through the whole document (so a prediction sees every earlier word of its document, whatever
 * the window length T), S documents side by side, no noise or dropout. Every prediction of a
 * document of n words (its n words, then the end token) goes to a {@link Sink} with the
 * next-token distribution. The held-out perplexity of the engine's evaluation is
 * {@code exp(-mean log p(label))} over the same predictions.
 */
public final class RecurrentScorer {
    /** Takes one prediction; {@code probabilities} row {@code row} is the next-token distribution (valid during the call). */
    public interface Sink {
        /**
         * @param document the document's id (as given to {@link #score})
         * @param position the prediction's position in the document: 0 predicts the first word from the end token alone
         * @param input    the token read at this position (the end token at 0, else the previous word)
         * @param label    the next token (a word, or the end token after the last word)
         */
        void take(long document, int position, int input, int label, Matrix probabilities, int row);
    }

    private final RecurrentLanguageModel model;
    private final ModelParameters params;
    private final Precision precision;
    private final int steps;
    private final int sequences;
    private final int endToken;

    /**
     * @param steps     T, tokens per window (does not change the result)
     * @param sequences S, documents read side by side (does not change the result)
     * @param endToken  the end-of-document id
     */
    public RecurrentScorer(RecurrentLanguageModel model, ModelParameters params, int steps, int sequences, int endToken) {
        if (steps < 1 || sequences < 1) throw new IllegalArgumentException("need T >= 1 and S >= 1, got T=" + steps + ", S=" + sequences);
        this.model = model;
        this.params = params;
        this.precision = params.shared().precision();
        this.steps = steps;
        this.sequences = sequences;
        this.endToken = endToken;
    }

    /** Scores {@code documents} (word ids without the end token; empty ones give just the end prediction), ids {@code ids}. */
    public void score(List<int[]> documents, long[] ids, Sink sink) {
        if (documents.size() != ids.length) throw new IllegalArgumentException(documents.size() + " documents, " + ids.length + " ids");
        if (documents.isEmpty()) return;
        int s = Math.min(sequences, documents.size());
        DocumentStreams ds = new DocumentStreams(s, steps, k -> documents.get((int) k), endToken, 0, documents.size(), false);
        RecurrentState state = model.newState(precision, s);
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(precision);
        Matrix out = precision.zeros(s * steps, model.vocabulary());
        while (ds.hasNext()) {
            SequenceBatch b = ds.next();
            model.predict(params, b, state, ws, out);
            int[] in = b.inputs(), tg = b.targets();
            long[] tokenIds = b.tokenIds();
            for (int r = 0; r < b.rows(); r++) {
                if (tg[r] < 0) continue;
                int doc = (int) (tokenIds[r] / DocumentStreams.MAX_DOCUMENT);
                sink.take(ids[doc], (int) (tokenIds[r] % DocumentStreams.MAX_DOCUMENT), in[r], tg[r], out, r);
            }
        }
    }

    /** The {@code k} most probable tokens of row {@code row} (fewer when V is smaller), most probable first; ties by lower id. */
    public static int[] top(Matrix probabilities, int row, int k) {
        int v = probabilities.cols();
        int n = Math.min(k, v);
        int[] best = new int[n];
        double[] p = new double[n];
        int filled = 0;
        for (int c = 0; c < v; c++) {
            double x = probabilities.get(row, c);
            if (filled == n && !(x > p[n - 1])) continue;
            int i = filled == n ? n - 1 : filled++;
            while (i > 0 && x > p[i - 1]) {
                best[i] = best[i - 1];
                p[i] = p[i - 1];
                i--;
            }
            best[i] = c;
            p[i] = x;
        }
        return best;
    }
}
