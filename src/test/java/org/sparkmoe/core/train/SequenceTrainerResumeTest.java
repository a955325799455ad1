package org.sparkmoe.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.function.LongFunction;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;

/**
 * What a checkpoint of sequence training must hold: parameters, optimiser state and step, the
 * carried LSTM state and the stream positions. Resuming from them continues bit for bit as if
 * never stopped; resuming without the LSTM state does not.
 */
class SequenceTrainerResumeTest {
    private static final MarkovMixtureCorpus CORPUS = new MarkovMixtureCorpus(30, 2, 3, 0.05, 12, null, 4);
    private static final int S = 4, T = 5;

    @Test
    void resumingWithTheCarriedStateContinuesExactly() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(31, 8, NoisyTopKGating.noisyTopK(8, 4, 2), 8,
                BalanceWeights.PAPER, 0.1);
        TrainerConfig cfg = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.01, 5), 1.0, 8, Precision.F32);
        LongFunction<int[]> docs = DocumentStreams.markov(CORPUS);
        DocumentStreams streams = new DocumentStreams(S, T, docs, 30, 0, 1000, true);
        SequenceTrainer trainer = new SequenceTrainer(model, cfg, S);
        for (int i = 0; i < 3; i++) trainer.step(streams.next());
        TrainingState saved = trainer.state().copy();
        RecurrentState savedState = trainer.recurrentState().copy();
        long[] savedDocs = streams.documents();
        int[] savedPositions = streams.positions();
        for (int i = 0; i < 3; i++) trainer.step(streams.next());

        SequenceTrainer resumed = new SequenceTrainer(model, cfg, saved.copy(), savedState.copy());
        DocumentStreams again = new DocumentStreams(S, T, docs, 30, 0, 1000, true);
        again.seek(savedDocs, savedPositions);
        for (int i = 0; i < 3; i++) resumed.step(again.next());
        assertEquals(trainer.state().step(), resumed.state().step());
        assertEquals(0.0, maxDifference(trainer.state().params().shared().flat(), resumed.state().params().shared().flat()));
        for (int e = 0; e < 4; e++) {
            assertEquals(0.0, maxDifference(trainer.state().params().experts()[e].flat(), resumed.state().params().experts()[e].flat()));
        }

        // without the carried LSTM state the continuation differs: the state is part of the checkpoint
        SequenceTrainer stateless = new SequenceTrainer(model, cfg, saved.copy(), model.newState(Precision.F32, S));
        DocumentStreams third = new DocumentStreams(S, T, docs, 30, 0, 1000, true);
        third.seek(savedDocs, savedPositions);
        for (int i = 0; i < 3; i++) stateless.step(third.next());
        org.junit.jupiter.api.Assertions.assertTrue(
                maxDifference(trainer.state().params().shared().flat(), stateless.state().params().shared().flat()) > 0);
    }

    private static double maxDifference(Matrix a, Matrix b) {
        double worst = 0;
        for (int i = 0; i < a.size(); i++) worst = Math.max(worst, Math.abs(a.getFlat(i) - b.getFlat(i)));
        return worst;
    }
}
