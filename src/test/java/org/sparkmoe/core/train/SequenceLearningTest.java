package org.sparkmoe.core.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.LongFunction;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;

/**
 * The recurrent LSTM - MoE - LSTM model learns the built-in Markov corpus: held-out perplexity
 * (documents never trained on, scored from a zero state) falls far below both its value at
 * initialisation and the perplexity of the corpus's unigram distribution, which is the best a
 * model ignoring context can do, and below the perplexity of the best model of the previous word
 * alone (the corpus's bigram entropy with the domain unknown): the LSTM state has to carry which
 * domain the document is in. Seeded; this run measured 100.1 before, 5.61 after 300 steps, unigram
 * 84.3, bigram 6.35, floor (domain known) 2.55.
 */
class SequenceLearningTest {
    static final MarkovMixtureCorpus CORPUS = new MarkovMixtureCorpus(100, 4, 4, 0.02, 48, null, 17);
    static final int S = 16, T = 16, STEPS = 300;

    @Test
    void trainingLowersHeldOutPerplexityBelowTheUnigramModel() {
        int v = CORPUS.vocabularySize();
        LongFunction<int[]> docs = DocumentStreams.markov(CORPUS);
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(v + 1, 32, NoisyTopKGating.noisyTopK(32, 4, 2), 32,
                BalanceWeights.PAPER, 0.1);
        TrainerConfig cfg = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.01, 50), 5.0, 3, Precision.F32);
        SequenceTrainer trainer = new SequenceTrainer(model, cfg, S);
        double before = trainer.perplexity(heldOut(docs), S);
        DocumentStreams train = new DocumentStreams(S, T, docs, v, 0, 100_000, true);
        for (int i = 0; i < STEPS; i++) trainer.step(train.next());
        double after = trainer.perplexity(heldOut(docs), S);
        double unigram = Math.exp(unigramEntropy());
        double bigram = Math.exp(bigramEntropy());
        String report = String.format("held-out perplexity before %.2f, after %d steps %.2f; unigram %.2f; bigram %.2f; floor %.2f",
                before, STEPS, after, unigram, bigram, CORPUS.perplexityFloor());
        System.out.println(report);
        assertTrue(after < before / 5, report);
        assertTrue(after < 0.5 * unigram, report);
        assertTrue(after < bigram, "no better than a model of the previous word alone: " + report);
    }

    private static DocumentStreams heldOut(LongFunction<int[]> docs) {
        return new DocumentStreams(S, T, docs, CORPUS.vocabularySize(), 1_000_000, 64, false);
    }

    /** H(next | previous word) (nats) with the domain unknown: the best a model seeing one previous word can do on transitions. */
    private static double bigramEntropy() {
        double[] w = CORPUS.domainWeights();
        int v = CORPUS.vocabularySize();
        double h = 0;
        for (int prev = 0; prev < v; prev++) {
            double[] joint = new double[v];
            double pPrev = 0;
            for (int d = 0; d < w.length; d++) {
                double pd = w[d] * CORPUS.stationary(d)[prev];
                pPrev += pd;
                double[] row = CORPUS.transitionRow(d, prev);
                for (int n = 0; n < v; n++) joint[n] += pd * row[n];
            }
            for (int n = 0; n < v; n++) if (joint[n] > 0) h -= joint[n] * Math.log(joint[n] / pPrev);
        }
        return h;
    }

    /** Entropy (nats) of the word distribution mixed over the domains' stationary distributions. */
    private static double unigramEntropy() {
        double[] w = CORPUS.domainWeights();
        double[] p = new double[CORPUS.vocabularySize()];
        for (int d = 0; d < w.length; d++) {
            double[] pi = CORPUS.stationary(d);
            for (int i = 0; i < p.length; i++) p[i] += w[d] * pi[i];
        }
        double h = 0;
        for (double x : p) if (x > 0) h -= x * Math.log(x);
        return h;
    }
}
