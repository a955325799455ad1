package org.sparkmoe.engine.sequence;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.layer.Routing;
import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.recurrent.SequenceBatch;
import org.sparkmoe.engine.ExpertPool;
import org.sparkmoe.engine.PartitionResult;
import org.sparkmoe.engine.ShuffleBlock;

import scala.Tuple2;

/**
 * One data partition's part of a recurrent-LM step, in three stages chained by the step's shuffles:
 * <ol>
 * <li>{@link #gate}: the next window of the partition's streams, embedding and lower LSTM over all
 * its sequences at once, the gate on all its S_p*T rows; dispatch blocks for the experts and its
 * balance statistics plus its target count for every partition;</li>
 * <li>{@link #combine}: the batch-global statistics and target count N (summed in partition order,
 * so the same everywhere), the combined MoE output y, the upper LSTM and softmax forward and
 * backward with loss scale 1/N (the window's mean), the gate gradient and the gate-weighted dL/dy
 * blocks for the experts; the state leaving the window;</li>
 * <li>{@link Combined#finish}: the experts' dL/dx added to the gate's, then the lower LSTM and
 * embedding backward.</li>
 * </ol>
 * Kept in persisted RDDs for the step (never serialised: it holds the model's workspace). A stage
 * run again on the same object (a retried task) gets the same result: the entering state is copied
 * before the upper LSTM advances it, and every buffer a stage writes is overwritten, not accumulated.
 */
final class SequencePartitionStep {
    /**
     * What every task of a step needs besides the broadcast parameters; {@code run} keys the
     * partitions' {@link Scratch} in the executors' {@link ExpertPool}.
     */
    record Context(RecurrentLanguageModel model, SequenceLayout layout, Precision precision, long seed, long step, String run)
            implements java.io.Serializable {
        GateNoise noise() {
            return GateNoise.training(seed, step);
        }

        /** Balance statistics plus one slot: the partition's target count. */
        int statsSize() {
            MoELayer moe = model.moe();
            return (moe == null ? 0 : moe.gating().statsSize()) + 1;
        }
    }

    /**
     * A data partition's buffers, reused from step to step through the executor's {@link ExpertPool}
     * (kind WORKSPACE, keyed by partition; generation = step, reusable once the previous step is
     * done): the model instance the partition computes with (its layers' per-thread scratch, such as
     * the softmax's S_p*T x V logits, lives on it, and a task's deserialised copy of the model would
     * start without it), its workspace, the gate's state and routing, the MoE output and dL/dx
     * buffers, and the two shared-gradient buffers. Without it every step allocated all of them
     * (260 MB per LSTM-LSTM step at V = 10000, S = 128, T = 20). Every buffer is overwritten before it
     * is read, so the values never depend on what the pool held.
     */
    static final class Scratch {
        final RecurrentLanguageModel model;
        final RecurrentLanguageModel.Workspace ws;
        final GatingState gate;
        final Routing routing;
        /** The upper part of the gradient (combine), and the whole partition's (finish: upper + lower). */
        final Parameters upperGrad, grad;
        private Matrix y, dxPartial, dx;
        /** Local routing: this partition's gradient of every expert. */
        private Parameters[] expertGrads;
        /** Combine's dL/dG of one expert's entries. */
        private double[] dots;

        private Scratch(RecurrentLanguageModel model, Precision precision) {
            this.model = model;
            this.ws = model.newWorkspace(precision);
            MoELayer moe = model.moe();
            // the model workspace's own gate and routing, which its MoE pass reads under local routing
            this.gate = moe == null ? null : ws.moe().gate();
            this.routing = moe == null ? null : ws.moe().routing();
            this.upperGrad = model.sharedLayout().allocate(precision);
            this.grad = model.sharedLayout().allocate(precision);
        }

        static Scratch take(Context ctx, int partition) {
            Scratch s = ExpertPool.take(ctx.run(), partition, ExpertPool.Kind.WORKSPACE, ctx.step(), 1);
            if (s == null) {
                s = new Scratch(ctx.model(), ctx.precision());
                ExpertPool.put(ctx.run(), partition, ExpertPool.Kind.WORKSPACE, ctx.step(), s);
            }
            return s;
        }

        /** A zeroed m x d matrix in {@code slot}'s buffer (allocated on first use). */
        private static Matrix zeroed(Matrix slot, Precision p, int m, int d) {
            Matrix out = slot != null && slot.rows() == m && slot.cols() == d ? slot : p.zeros(m, d);
            out.fill(0);
            return out;
        }
    }

    final int partition;
    private final Scratch scratch;
    private final SequenceBatch batch;
    /** The state entering the window, after zeroing the sequences that start a document. */
    private final RecurrentState entering;
    private final long[] documentsAfter;
    private final int[] positionsAfter;
    private final RecurrentLanguageModel.Workspace ws;
    private final Matrix x1;
    private final GatingState gate;
    private final Routing routing;
    /** Balance statistics, then the target count. */
    private final double[] stats;

    private SequencePartitionStep(int partition, Scratch scratch, SequenceBatch batch, RecurrentState entering, long[] documentsAfter,
                                  int[] positionsAfter, Matrix x1, double[] stats) {
        this.partition = partition;
        this.scratch = scratch;
        this.batch = batch;
        this.entering = entering;
        this.documentsAfter = documentsAfter;
        this.positionsAfter = positionsAfter;
        this.ws = scratch.ws;
        this.x1 = x1;
        this.gate = scratch.gate;
        this.routing = scratch.routing;
        this.stats = stats;
    }

    /** Stage 1 on partition {@code p} from where its cursor stands. */
    static SequencePartitionStep gate(Context ctx, Parameters shared, int p, DocumentShelf shelf, SequenceCursor cursor) {
        SequenceLayout l = ctx.layout();
        if (cursor.partition() != p) throw new IllegalStateException("cursor of partition " + cursor.partition() + " arrived at " + p);
        DocumentStreams streams = new DocumentStreams(l.sequences(), l.streams(p), l.steps(), shelf::words, l.endToken(), l.first(),
                l.count(), true);
        streams.seek(cursor.documents(), cursor.positions());
        SequenceBatch batch = streams.next();
        RecurrentState state = cursor.state().copy();
        Scratch scratch = Scratch.take(ctx, p);
        RecurrentLanguageModel model = scratch.model;
        GateNoise noise = ctx.noise();
        Matrix x1 = model.lowerForward(shared, batch, state, noise, scratch.ws);
        double[] stats = new double[ctx.statsSize()];
        stats[stats.length - 1] = batch.targetCount();
        MoELayer moe = model.moe();
        if (moe != null) {
            moe.gating().forward(shared, x1, batch.tokenIds(), noise, scratch.gate, stats);
            scratch.routing.build(scratch.gate);
        }
        return new SequencePartitionStep(p, scratch, batch, state, streams.documents(), streams.positions(), x1, stats);
    }

    /**
     * A whole step of a model without an MoE on partition {@code p}, in one task (no exchange:
     * without balance statistics the only batch-global quantity is the loss scale 1/N, which the
     * gradient is linear in): forward and backward with loss scale 1, so the driver multiplies the
     * summed gradient by 1/N.
     */
    static Tuple2<PartitionResult, SequenceCursor> unscaled(Context ctx, Parameters shared, int p, DocumentShelf shelf,
                                                           SequenceCursor cursor) {
        if (ctx.model().moe() != null) throw new IllegalStateException("a model with an MoE needs the batch's balance statistics");
        return gate(ctx, shared, p, shelf, cursor).upper(shared, new ArrayList<>(), 1.0, null).finish(ctx, shared, java.util.Collections.emptyIterator());
    }

    /** This partition's rows for each expert it routes to, in routing order, as (expert, block); bfloat16 on the wire when {@code bf16}. */
    List<Tuple2<Integer, ShuffleBlock>> dispatch(boolean bf16) {
        List<Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>();
        int d = x1.cols();
        for (int e = 0; e < routing.numExperts(); e++) {
            int c = routing.count(e);
            if (c == 0) continue;
            Matrix rows = x1.precision().zeros(c, d);
            rows.gatherRows(x1, routing.rows(), routing.start(e), c);
            out.add(new Tuple2<>(e, new ShuffleBlock(partition, e, rows, bf16)));
        }
        return out;
    }

    /** Statistics and target count for every data partition (itself included), as (partition, block). */
    List<Tuple2<Integer, ShuffleBlock>> statsForAll(int partitions) {
        ShuffleBlock b = new ShuffleBlock(partition, ShuffleBlock.STATS, new DoubleMatrix(stats.clone(), 0, 1, stats.length));
        List<Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>(partitions);
        for (int q = 0; q < partitions; q++) out.add(new Tuple2<>(q, b));
        return out;
    }

    /** Stage 2 on the experts' output blocks and every partition's statistics block. */
    synchronized Combined combine(Context ctx, Parameters shared, Iterator<Tuple2<Integer, ShuffleBlock>> outputsAndStats) {
        List<ShuffleBlock> outputs = new ArrayList<>();
        double[] global = globalStatistics(ctx, outputsAndStats, outputs);
        double tokens = global[global.length - 1];
        return upper(shared, outputs, tokens == 0 ? 0 : 1.0 / tokens, global);
    }

    /** The partition's record and cursor under local routing, and its gradient of each expert it routed rows to. */
    record Local(Tuple2<PartitionResult, SequenceCursor> result, List<Tuple2<Integer, ShuffleBlock>> expertGradients)
            implements java.io.Serializable {
    }

    /**
     * Local routing ({@code RoutingMode.LOCAL}), stages 2 and 3 in one on every partition's
     * statistics block and every expert's parameters: the experts on this partition's own rows
     * (the gate already ran in {@link #gate}), the upper LSTM and softmax forward and backward,
     * the experts and the gate backward with the batch-global balance gradient, the lower LSTM and
     * embedding backward. Each expert's gradient goes back as (expert, block) to be summed over the
     * partitions in order.
     */
    synchronized Local local(Context ctx, Parameters shared, Parameters[] experts, Iterator<Tuple2<Integer, ShuffleBlock>> statsBlocks) {
        List<ShuffleBlock> none = new ArrayList<>();
        double[] global = globalStatistics(ctx, statsBlocks, none);
        if (!none.isEmpty()) throw new IllegalStateException("expert blocks arrived at partition " + partition + " under local routing");
        double tokens = global[global.length - 1];
        MoELayer moe = scratch.model.moe();
        double[] statsGradient = moe.balance(Arrays.copyOf(global, global.length - 1)).statsGradient();
        if (scratch.expertGrads == null) {
            scratch.expertGrads = new Parameters[experts.length];
            for (int e = 0; e < experts.length; e++) scratch.expertGrads[e] = experts[e].zerosLike();
        }
        Parameters[] eg = scratch.expertGrads;
        int[] counts = expertCounts();
        for (int e = 0; e < eg.length; e++) if (counts[e] > 0) eg[e].flat().fill(0);
        Parameters grad = scratch.grad;
        grad.flat().fill(0);
        RecurrentState state = entering.copy();
        double loss = scratch.model.finishGated(new ModelParameters(shared, experts), batch, state, ws, new ModelParameters(grad, eg),
                tokens == 0 ? 0 : 1.0 / tokens, statsGradient);
        List<Tuple2<Integer, ShuffleBlock>> blocks = new ArrayList<>();
        for (int e = 0; e < eg.length; e++) if (counts[e] > 0) blocks.add(new Tuple2<>(e, new ShuffleBlock(partition, e, eg[e].flat())));
        PartitionResult r = new PartitionResult(partition, grad, loss, batch.targetCount(), Arrays.copyOf(stats, stats.length - 1), counts, 0);
        return new Local(new Tuple2<>(r, new SequenceCursor(partition, documentsAfter, positionsAfter, state)), blocks);
    }

    /** Every partition's statistics block summed in partition order (then the target count); other blocks go to {@code outputs}. */
    private double[] globalStatistics(Context ctx, Iterator<Tuple2<Integer, ShuffleBlock>> outputsAndStats, List<ShuffleBlock> outputs) {
        int partitions = ctx.layout().partitions();
        ShuffleBlock[] byPartition = new ShuffleBlock[partitions];
        outputsAndStats.forEachRemaining(keyed -> {
            ShuffleBlock b = keyed._2();
            if (b.expert() != ShuffleBlock.STATS) {
                outputs.add(b);
            } else if (b.partition() < 0 || b.partition() >= partitions || byPartition[b.partition()] != null) {
                throw new IllegalStateException("unexpected statistics block from partition " + b.partition() + " of " + partitions);
            } else {
                byPartition[b.partition()] = b;
            }
        });
        double[] global = new double[stats.length];
        for (int p = 0; p < partitions; p++) {
            if (byPartition[p] == null) throw new IllegalStateException("no statistics arrived from partition " + p);
            for (int i = 0; i < global.length; i++) global[i] += byPartition[p].rows().getFlat(i);
        }
        return global;
    }

    /**
     * Stage 2 given the experts' output blocks and the batch-global statistics (then target count;
     * null without an MoE) and loss scale.
     */
    private Combined upper(Parameters shared, List<ShuffleBlock> outputs, double lossScale, double[] global) {
        outputs.sort(Comparator.comparingInt(ShuffleBlock::expert));
        RecurrentLanguageModel model = scratch.model;
        MoELayer moe = model.moe();
        int m = batch.rows(), d = x1.cols();
        Matrix y = null;
        if (moe != null) {
            y = scratch.y = Scratch.zeroed(scratch.y, x1.precision(), m, d);
            for (ShuffleBlock b : outputs) {
                int e = b.expert();
                checkBlock(b);
                y.scatterAddRows(b.rows(), routing.rows(), routing.start(e), routing.count(e), routing.gates());
            }
        }
        RecurrentState state = entering.copy();
        Parameters grad = scratch.upperGrad;
        grad.flat().fill(0);
        double lossSum = model.upperForwardBackward(shared, batch, state, ws, y, lossScale, grad);
        SequenceCursor leaving = new SequenceCursor(partition, documentsAfter, positionsAfter, state);
        if (moe == null) return new Combined(this, grad, lossSum, null, List.of(), leaving);

        Matrix dY = ws.moeOutputGradient();
        double[] dGate = gate.gateGradient();
        int slots = gate.slots();
        Arrays.fill(dGate, 0, m * slots, 0.0);
        List<Tuple2<Integer, ShuffleBlock>> backward = new ArrayList<>();
        for (ShuffleBlock b : outputs) {
            int e = b.expert(), s = routing.start(e), c = routing.count(e);
            // dL/dG of each entry (dY . E(x)) and its dOut = G dY from one read of each dY row; a fresh dOut,
            // since the block is shuffled and may be read again by a retried task
            Matrix dOut = x1.precision().zeros(c, d);
            double[] dots = scratch.dots = Buffers.ensure(scratch.dots, c);
            dOut.gatherScaledRowsDot(dY, routing.rows(), s, c, routing.gates(), b.rows(), dots);
            for (int q = 0; q < c; q++) dGate[routing.rows()[s + q] * slots + routing.slots()[s + q]] = dots[q];
            backward.add(new Tuple2<>(e, new ShuffleBlock(partition, e, dOut, b.bf16())));
        }
        double[] statsGradient = moe.balance(Arrays.copyOf(global, global.length - 1)).statsGradient();
        Matrix dxPartial = scratch.dxPartial = Scratch.zeroed(scratch.dxPartial, x1.precision(), m, d);
        moe.gating().backward(shared, x1, gate, statsGradient, grad, dxPartial);
        return new Combined(this, grad, lossSum, dxPartial, backward, leaving);
    }

    private void checkBlock(ShuffleBlock b) {
        int expected = routing.count(b.expert());
        if (b.partition() != partition || b.rows().rows() != expected) {
            throw new IllegalStateException("block for partition " + b.partition() + ", expert " + b.expert() + " with "
                    + b.rows().rows() + " rows arrived at partition " + partition + " which routed " + expected + " rows there");
        }
    }

    /** Rows this partition sent each expert. */
    private int[] expertCounts() {
        if (routing == null) return new int[0];
        int[] c = new int[routing.numExperts()];
        for (int e = 0; e < c.length; e++) c[e] = routing.count(e);
        return c;
    }

    /** After combine: the partial shared gradient, what the lower backward pass needs, and the state leaving the window. */
    static final class Combined {
        private final SequencePartitionStep step;
        private final Parameters sharedGrad;
        private final double lossSum;
        private final Matrix dxPartial;
        final List<Tuple2<Integer, ShuffleBlock>> backward;
        private final SequenceCursor leaving;

        Combined(SequencePartitionStep step, Parameters sharedGrad, double lossSum, Matrix dxPartial,
                 List<Tuple2<Integer, ShuffleBlock>> backward, SequenceCursor leaving) {
            this.step = step;
            this.sharedGrad = sharedGrad;
            this.lossSum = lossSum;
            this.dxPartial = dxPartial;
            this.backward = backward;
            this.leaving = leaving;
        }

        /**
         * Stage 3: the experts' dL/dx blocks added to the gate's, the lower LSTM and embedding backward;
         * the partition's aggregation record (gradient, loss sum, target count, statistics, expert
         * batch sizes) and its cursor for the next step.
         */
        synchronized Tuple2<PartitionResult, SequenceCursor> finish(Context ctx, Parameters shared,
                                                                   Iterator<Tuple2<Integer, ShuffleBlock>> inputGradients) {
            SequencePartitionStep ps = step;
            Scratch scratch = ps.scratch;
            Parameters grad = scratch.grad;
            grad.flat().copyFrom(sharedGrad.flat());
            Matrix dx = null;
            if (dxPartial != null) {
                dx = scratch.dx = Scratch.zeroed(scratch.dx, dxPartial.precision(), dxPartial.rows(), dxPartial.cols());
                dx.copyFrom(dxPartial);
                List<ShuffleBlock> blocks = new ArrayList<>();
                inputGradients.forEachRemaining(keyed -> blocks.add(keyed._2()));
                blocks.sort(Comparator.comparingInt(ShuffleBlock::expert));
                for (ShuffleBlock b : blocks) {
                    int e = b.expert();
                    ps.checkBlock(b);
                    dx.scatterAddRows(b.rows(), ps.routing.rows(), ps.routing.start(e), ps.routing.count(e), null);
                }
            }
            scratch.model.lowerBackward(shared, ps.batch, ps.ws, dx, grad);
            double[] balance = Arrays.copyOf(ps.stats, ps.stats.length - 1);
            return new Tuple2<>(new PartitionResult(ps.partition, grad, lossSum, ps.batch.targetCount(), balance, ps.expertCounts(), 0),
                    leaving);
        }
    }
}
