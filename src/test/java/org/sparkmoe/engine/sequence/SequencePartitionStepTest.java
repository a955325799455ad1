package org.sparkmoe.engine.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.engine.ExpertPool;
import org.sparkmoe.engine.PartitionResult;
import org.sparkmoe.engine.ShuffleBlock;

import scala.Tuple2;

/**
 * A partition's stages are idempotent on the object Spark keeps between them: running combine and
 * finish again (a retried task) gives bit-identical gradients, losses and leaving state; and a step
 * on buffers the executor's pool kept from an earlier step (other windows, other parameters) gives
 * bit-identical results to one on fresh buffers. The experts are stood in by an identity map (each
 * expert returns its input), which is enough to exercise the combine and the backward blocks.
 */
class SequencePartitionStepTest {

    @Test
    void combineAndFinishRunTwiceGiveTheSameResult() {
        RecurrentLanguageModel model = SparkSequenceEquivalenceTest.model("hierarchical");
        ModelParameters params = model.initialise(Precision.F64, 3);
        Parameters shared = params.shared();
        SequenceLayout layout = new SequenceLayout(5, 4, SparkSequenceEquivalenceTest.END, 0, 12, 1);
        SequencePartitionStep.Context ctx = new SequencePartitionStep.Context(model, layout, Precision.F64, 9, 2, "idempotent");
        DocumentShelf shelf = shelf();
        SequenceCursor cursor = cursor(model, shelf);

        SequencePartitionStep step = SequencePartitionStep.gate(ctx, shared, 0, shelf, cursor);
        List<Tuple2<Integer, ShuffleBlock>> dispatched = step.dispatch(false);
        Tuple2<PartitionResult, SequenceCursor> first = copy(run(ctx, shared, step, dispatched));
        Tuple2<PartitionResult, SequenceCursor> second = run(ctx, shared, step, dispatched);
        assertIdentical(first, second);
        // the entering state was not touched
        assertEquals(0.3, cursor.state().hidden(0).getFlat(0), 0.0);
        ExpertPool.release("idempotent");
    }

    @Test
    void pooledBuffersFromAnEarlierStepGiveTheSameResultAsFreshOnes() {
        RecurrentLanguageModel model = SparkSequenceEquivalenceTest.model("hierarchical");
        Parameters shared = model.initialise(Precision.F64, 3).shared();
        SequenceLayout layout = new SequenceLayout(5, 4, SparkSequenceEquivalenceTest.END, 0, 12, 1);
        DocumentShelf shelf = shelf();
        try {
            // step 1 of run "pooled" on other parameters and a zero state from the documents' start: fills the pool's buffers
            SequencePartitionStep.Context earlier = new SequencePartitionStep.Context(model, layout, Precision.F64, 9, 1, "pooled");
            DocumentStreams ds = new DocumentStreams(5, 4, shelf::words, SparkSequenceEquivalenceTest.END, 0, 12, true);
            SequenceCursor start = new SequenceCursor(0, ds.documents(), ds.positions(), model.newState(Precision.F64, 5));
            Parameters other = model.initialise(Precision.F64, 4).shared();
            SequencePartitionStep s1 = SequencePartitionStep.gate(earlier, other, 0, shelf, start);
            run(earlier, other, s1, s1.dispatch(false));

            SequencePartitionStep.Context pooled = new SequencePartitionStep.Context(model, layout, Precision.F64, 9, 2, "pooled");
            SequencePartitionStep.Context fresh = new SequencePartitionStep.Context(model, layout, Precision.F64, 9, 2, "fresh");
            SequencePartitionStep onPooled = SequencePartitionStep.gate(pooled, shared, 0, shelf, cursor(model, shelf));
            Tuple2<PartitionResult, SequenceCursor> a = copy(run(pooled, shared, onPooled, onPooled.dispatch(false)));
            SequencePartitionStep onFresh = SequencePartitionStep.gate(fresh, shared, 0, shelf, cursor(model, shelf));
            Tuple2<PartitionResult, SequenceCursor> b = run(fresh, shared, onFresh, onFresh.dispatch(false));
            assertIdentical(a, b);
        } finally {
            ExpertPool.release("pooled");
            ExpertPool.release("fresh");
        }
    }

    private static DocumentShelf shelf() {
        List<Tuple2<Long, int[]>> docs = new ArrayList<>();
        for (long k = 0; k < 12; k++) docs.add(new Tuple2<>(k, DocumentStreams.markov(SparkSequenceEquivalenceTest.CORPUS).apply(k)));
        return new DocumentShelf(0, docs.iterator());
    }

    /** Mid-document (after one window), from a non-zero state. */
    private static SequenceCursor cursor(RecurrentLanguageModel model, DocumentShelf shelf) {
        DocumentStreams ds = new DocumentStreams(5, 4, shelf::words, SparkSequenceEquivalenceTest.END, 0, 12, true);
        ds.next();
        SequenceCursor cursor = new SequenceCursor(0, ds.documents(), ds.positions(), model.newState(Precision.F64, 5));
        for (int l = 0; l < 2; l++) cursor.state().hidden(l).fill(0.3);
        return cursor;
    }

    /** The gradient copied out of the partition's pooled buffer (the next run overwrites it). */
    private static Tuple2<PartitionResult, SequenceCursor> copy(Tuple2<PartitionResult, SequenceCursor> r) {
        PartitionResult p = r._1();
        return new Tuple2<>(new PartitionResult(p.partition(), p.sharedGrad().copy(), p.lossSum(), p.examples(), p.stats(),
                p.expertCounts(), p.expertSumOfSquares()), r._2());
    }

    private static void assertIdentical(Tuple2<PartitionResult, SequenceCursor> first, Tuple2<PartitionResult, SequenceCursor> second) {
        assertNotSame(first._1().sharedGrad(), second._1().sharedGrad());
        SequenceCheckpointResumeTest.assertIdentical(first._1().sharedGrad().flat(), second._1().sharedGrad().flat());
        assertEquals(first._1().lossSum(), second._1().lossSum(), 0.0);
        for (int l = 0; l < 2; l++) {
            SequenceCheckpointResumeTest.assertIdentical(first._2().state().hidden(l), second._2().state().hidden(l));
            SequenceCheckpointResumeTest.assertIdentical(first._2().state().cell(l), second._2().state().cell(l));
        }
    }

    private static Tuple2<PartitionResult, SequenceCursor> run(SequencePartitionStep.Context ctx, Parameters shared,
                                                               SequencePartitionStep step, List<Tuple2<Integer, ShuffleBlock>> dispatched) {
        List<Tuple2<Integer, ShuffleBlock>> toCombine = new ArrayList<>(dispatched); // identity experts
        toCombine.addAll(step.statsForAll(1));
        SequencePartitionStep.Combined c = step.combine(ctx, shared, toCombine.iterator());
        return c.finish(ctx, shared, c.backward.iterator()); // identity: dL/dx = dL/dy
    }
}
