package org.sparkmoe.engine.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.engine.PartitionResult;
import org.sparkmoe.engine.ShuffleBlock;

import scala.Tuple2;

/**
 * A partition's stages are idempotent on the object Spark keeps between them: running combine and
 * finish again (a retried task) gives bit-identical gradients, losses and leaving state. The
 * experts are stood in by an identity map (each expert returns its input), which is enough to
 * exercise the combine and the backward blocks.
 */
class SequencePartitionStepTest {

    @Test
    void combineAndFinishRunTwiceGiveTheSameResult() {
        RecurrentLanguageModel model = SparkSequenceEquivalenceTest.model("hierarchical");
        ModelParameters params = model.initialise(Precision.F64, 3);
        Parameters shared = params.shared();
        SequenceLayout layout = new SequenceLayout(5, 4, SparkSequenceEquivalenceTest.END, 0, 12, 1);
        SequencePartitionStep.Context ctx = new SequencePartitionStep.Context(model, layout, Precision.F64, 9, 2);
        List<Tuple2<Long, int[]>> docs = new ArrayList<>();
        for (long k = 0; k < 12; k++) docs.add(new Tuple2<>(k, DocumentStreams.markov(SparkSequenceEquivalenceTest.CORPUS).apply(k)));
        DocumentShelf shelf = new DocumentShelf(0, docs.iterator());
        DocumentStreams ds = new DocumentStreams(5, 4, shelf::words, SparkSequenceEquivalenceTest.END, 0, 12, true);
        ds.next(); // start mid-document, from a non-zero state
        SequenceCursor cursor = new SequenceCursor(0, ds.documents(), ds.positions(), model.newState(Precision.F64, 5));
        for (int l = 0; l < 2; l++) cursor.state().hidden(l).fill(0.3);

        SequencePartitionStep step = SequencePartitionStep.gate(ctx, shared, 0, shelf, cursor);
        List<Tuple2<Integer, ShuffleBlock>> dispatched = step.dispatch(false);
        Tuple2<PartitionResult, SequenceCursor> first = run(ctx, shared, step, dispatched);
        Tuple2<PartitionResult, SequenceCursor> second = run(ctx, shared, step, dispatched);
        SequenceCheckpointResumeTest.assertIdentical(first._1().sharedGrad().flat(), second._1().sharedGrad().flat());
        assertEquals(first._1().lossSum(), second._1().lossSum(), 0.0);
        for (int l = 0; l < 2; l++) {
            SequenceCheckpointResumeTest.assertIdentical(first._2().state().hidden(l), second._2().state().hidden(l));
            SequenceCheckpointResumeTest.assertIdentical(first._2().state().cell(l), second._2().state().cell(l));
        }
        // the entering state was not touched
        assertEquals(0.3, cursor.state().hidden(0).getFlat(0), 0.0);
    }

    private static Tuple2<PartitionResult, SequenceCursor> run(SequencePartitionStep.Context ctx, Parameters shared,
                                                               SequencePartitionStep step, List<Tuple2<Integer, ShuffleBlock>> dispatched) {
        List<Tuple2<Integer, ShuffleBlock>> toCombine = new ArrayList<>(dispatched); // identity experts
        toCombine.addAll(step.statsForAll(1));
        SequencePartitionStep.Combined c = step.combine(ctx, shared, toCombine.iterator());
        return c.finish(ctx, shared, c.backward.iterator()); // identity: dL/dx = dL/dy
    }
}
