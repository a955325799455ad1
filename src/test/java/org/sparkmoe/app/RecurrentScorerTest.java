package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.SequenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;

/**
 * The recurrent scoring pass: every prediction of every document once, the LSTM state carried
 * through the whole document (the window length T and the number of documents side by side S do
 * not change a probability), and its perplexity is the reference trainer's.
 */
class RecurrentScorerTest {
    private static final int V = 11, END = 1;

    /** One scored prediction: document, position, input, label and the whole distribution. */
    private record Scored(long document, int position, int input, int label, double[] p) {
    }

    private static List<Scored> score(RecurrentLanguageModel m, ModelParameters params, int steps, int sequences, List<int[]> docs,
                                      long[] ids) {
        List<Scored> out = new ArrayList<>();
        new RecurrentScorer(m, params, steps, sequences, END).score(docs, ids, (doc, pos, input, label, p, row) -> {
            double[] v = new double[p.cols()];
            for (int c = 0; c < v.length; c++) v[c] = p.get(row, c);
            out.add(new Scored(doc, pos, input, label, v));
        });
        out.sort(java.util.Comparator.comparingLong(Scored::document).thenComparingInt(Scored::position));
        return out;
    }

    @Test
    void theStateIsCarriedThroughEachDocumentWhateverTheWindowAndTheReferencePerplexityFollows() {
        RecurrentLanguageModel m = RecurrentLanguageModel.withMoE(V, 5, NoisyTopKGating.noisyTopK(5, 3, 2), 4,
                new BalanceWeights(0.1, 0.1), 0.2);
        TrainerConfig cfg = new TrainerConfig(new Adam(), LearningRateSchedule.constant(0.01), 1.0, 4, Precision.F64);
        TrainingState state = SequenceTrainer.initialState(m, cfg);
        SplittableRandom rnd = new SplittableRandom(2);
        List<int[]> docs = new ArrayList<>();
        for (int len : new int[] {9, 0, 4, 13, 6}) docs.add(rnd.ints(len, 2, V).toArray());
        long[] ids = {40, 41, 42, 43, 44};

        List<Scored> oneWindow = score(m, state.params(), 20, 1, docs, ids);
        List<Scored> short3 = score(m, state.params(), 3, 2, docs, ids);
        List<Scored> sideBySide = score(m, state.params(), 2, 5, docs, ids);
        assertEquals(9 + 0 + 4 + 13 + 6 + 5, oneWindow.size(), "n + 1 predictions per document of n words");
        for (List<Scored> other : List.of(short3, sideBySide)) {
            assertEquals(oneWindow.size(), other.size());
            for (int i = 0; i < oneWindow.size(); i++) {
                Scored a = oneWindow.get(i), b = other.get(i);
                assertEquals(a.document(), b.document());
                assertEquals(a.position(), b.position());
                assertEquals(a.label(), b.label());
                assertArrayEquals(a.p(), b.p(), 1e-12, "document " + a.document() + " position " + a.position());
            }
        }
        // positions, inputs and labels follow each document: END w1 .. wn -> w1 .. wn END
        int i = 0;
        for (int d = 0; d < docs.size(); d++) {
            int[] w = docs.get(d);
            for (int pos = 0; pos <= w.length; pos++, i++) {
                Scored s = oneWindow.get(i);
                assertEquals(ids[d], s.document());
                assertEquals(pos, s.position());
                assertEquals(pos == 0 ? END : w[pos - 1], s.input());
                assertEquals(pos < w.length ? w[pos] : END, s.label());
            }
        }
        double nll = 0;
        for (Scored s : oneWindow) nll -= Math.log(s.p()[s.label()]);
        double reference = new SequenceTrainer(m, cfg, state, m.newState(Precision.F64, 2))
                .perplexity(new DocumentStreams(2, 3, k -> docs.get((int) k), END, 0, docs.size(), false), 2);
        assertEquals(reference, Math.exp(nll / oneWindow.size()), 1e-9 * reference);
    }

    @Test
    void topIsTheMostProbableFirst() {
        Matrix p = Precision.F64.zeros(2, 6);
        double[] row = {0.1, 0.3, 0.05, 0.3, 0.2, 0.05};
        for (int c = 0; c < 6; c++) p.set(1, c, row[c]);
        assertArrayEquals(new int[] {1, 3, 4}, RecurrentScorer.top(p, 1, 3));
        assertArrayEquals(new int[] {1, 3, 4, 0, 2, 5}, RecurrentScorer.top(p, 1, 10));
        assertTrue(RecurrentScorer.top(p, 1, 1)[0] == 1);
    }
}
