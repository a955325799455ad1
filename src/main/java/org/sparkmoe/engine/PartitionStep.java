package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.layer.Routing;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.OutputHead;
import org.sparkmoe.core.param.Parameters;

/**
 * One data partition's part of a training step (docs/DESIGN.md section 7): its slice of the mini-batch,
 * the input layer and gate forward, and everything it keeps until the backward pass. Lives in a
 * persisted RDD for the duration of the step; every stage recomputes or overwrites, never
 * accumulates into kept state, so Spark may re-run any stage after a failure.
 */
final class PartitionStep implements java.io.Serializable {
    final int partition;
    final Batch batch;
    final Matrix x;
    final GatingState gate;
    final Routing routing;
    final double[] stats;

    private PartitionStep(int partition, Batch batch, Matrix x, GatingState gate, Routing routing, double[] stats) {
        this.partition = partition;
        this.batch = batch;
        this.x = x;
        this.gate = gate;
        this.routing = routing;
        this.stats = stats;
    }

    /** Selects this partition's rows for the step from its row blocks. */
    static Batch selectBatch(StepContext ctx, int partition, Iterator<RowBlock> blocks) {
        List<RowBlock> list = new ArrayList<>();
        blocks.forEachRemaining(list::add);
        RowBlock[] arr = list.toArray(new RowBlock[0]);
        int[] start = new int[arr.length + 1];
        for (int b = 0; b < arr.length; b++) start[b + 1] = start[b] + arr[b].size();
        int count = ctx.plan().rowsPerStep(partition);
        int[] local = new int[count];
        ctx.plan().rows(partition, ctx.step(), local);
        int[] block = new int[count];
        int[] row = new int[count];
        for (int r = 0; r < count; r++) {
            int b = upperBound(start, local[r]) - 1;
            block[r] = b;
            row[r] = local[r] - start[b];
        }
        return RowBlock.select(arr, block, row, 0, count, ctx.precision());
    }

    private static int upperBound(int[] a, int key) {
        int lo = 0, hi = a.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] <= key) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /** Job 1: input layer and gating forward for this partition's rows; partial statistics. */
    static PartitionStep gate(StepContext ctx, Parameters shared, int partition, Iterator<RowBlock> blocks) {
        MoENetwork net = ctx.network();
        Batch batch = selectBatch(ctx, partition, blocks);
        int m = batch.size();
        Matrix x = ctx.precision().zeros(m, net.input().outputDim());
        double[] stats = new double[net.moe().gating().statsSize()];
        GatingState gate = net.moe().gating().newState(ctx.precision());
        Routing routing = new Routing(net.numExperts());
        if (m > 0) {
            net.input().forward(shared, batch, x);
            net.moe().gating().forward(shared, x, batch.exampleIds(), ctx.noise(), gate, stats);
        } else {
            gate.reset(0);
        }
        routing.build(gate);
        return new PartitionStep(partition, batch, x, gate, routing, stats);
    }

    /** This partition's share of the task loss's normaliser: its rows' weight sum (its row count without weights). */
    double weightSum() {
        return batch.weightSum();
    }

    /** Expert batch sizes contributed by this partition. */
    int[] expertCounts() {
        int[] c = new int[routing.numExperts()];
        for (int e = 0; e < c.length; e++) c[e] = routing.count(e);
        return c;
    }

    /**
     * This partition's balance statistics and weight sum for every data partition (itself
     * included): each sums all of them in partition order, so every partition derives the same
     * batch-global balance gradient and task-loss normaliser without a driver round trip.
     */
    List<scala.Tuple2<Integer, ShuffleBlock>> statsForAll(int partitions) {
        List<scala.Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>(partitions);
        double[] withNormaliser = java.util.Arrays.copyOf(stats, stats.length + 1);
        withNormaliser[stats.length] = weightSum();
        ShuffleBlock b = ShuffleBlock.stats(partition, withNormaliser);
        for (int q = 0; q < partitions; q++) out.add(new scala.Tuple2<>(q, b));
        return out;
    }

    /**
     * A step's batch-global statistics: the balance statistics (Importance and Load sums) and the
     * task loss's normaliser, the weight sum of the whole batch (its size without weights).
     */
    record GlobalStats(double[] balance, double weightSum) {
        /** The head's loss scale for this batch ({@link OutputHead#lossScale}). */
        double lossScale() {
            return OutputHead.lossScale(weightSum);
        }
    }

    /**
     * The batch-global statistics from the statistics blocks of all {@code partitions} data
     * partitions (summed in partition order, so bit-identical everywhere); the other blocks are
     * added to {@code rest}.
     */
    static GlobalStats globalStats(MoENetwork net, int partitions, Iterator<ShuffleBlock> blocks, List<ShuffleBlock> rest) {
        ShuffleBlock[] byPartition = new ShuffleBlock[partitions];
        while (blocks.hasNext()) {
            ShuffleBlock b = blocks.next();
            if (!b.isStats()) {
                rest.add(b);
            } else if (b.partition() < 0 || b.partition() >= partitions || byPartition[b.partition()] != null) {
                throw new IllegalStateException("unexpected statistics block from partition " + b.partition() + " of " + partitions);
            } else {
                byPartition[b.partition()] = b;
            }
        }
        int size = net.moe().gating().statsSize();
        double[] sum = new double[size + 1];
        for (int p = 0; p < partitions; p++) {
            if (byPartition[p] == null) throw new IllegalStateException("no balance statistics arrived from partition " + p);
            byPartition[p].addStatsTo(sum);
        }
        return new GlobalStats(java.util.Arrays.copyOf(sum, size), sum[size]);
    }

    /** Dispatch: this partition's rows for each expert it routes to, in routing order. */
    List<ShuffleBlock> dispatch() {
        return dispatch(false);
    }

    /** {@link #dispatch()} in the step's shuffle payload format. */
    List<ShuffleBlock> dispatch(StepContext ctx) {
        return dispatch(ctx.payload() == ShufflePayload.BF16);
    }

    private List<ShuffleBlock> dispatch(boolean bf16) {
        List<ShuffleBlock> out = new ArrayList<>();
        int d = x.cols();
        for (int e = 0; e < routing.numExperts(); e++) {
            int c = routing.count(e);
            if (c == 0) continue;
            Matrix rows = x.precision().zeros(c, d);
            rows.gatherRows(x, routing.rows(), routing.start(e), c);
            out.add(new ShuffleBlock(partition, e, rows, bf16));
        }
        return out;
    }

    /**
     * {@link #combine(StepContext, Parameters, double[], Iterator)} on the experts' output blocks
     * together with the statistics blocks of all {@code partitions} data partitions, from which the
     * batch-global balance gradient is computed here.
     */
    Combined combine(StepContext ctx, Parameters shared, int partitions, Iterator<ShuffleBlock> outputsAndStats) {
        List<ShuffleBlock> outputs = new ArrayList<>();
        GlobalStats global = globalStats(ctx.network(), partitions, outputsAndStats, outputs);
        return combine(ctx, shared, ctx.network().moe().balance(global.balance()).statsGradient(), global.lossScale(), outputs.iterator());
    }

    /**
     * Combine and the local backward work: y = sum_e g * E_e(x) (+ x), head loss and dL/dy, dL/dG
     * per slot, the gating backward pass with the batch-global balance gradient, and the blocks of
     * gate-weighted dL/dy for each expert. {@code lossScale} is 1 / the whole batch's weight sum.
     */
    synchronized Combined combine(StepContext ctx, Parameters shared, double[] statsGradient, double lossScale,
                                  Iterator<ShuffleBlock> outputs) {
        MoENetwork net = ctx.network();
        List<ShuffleBlock> blocks = new ArrayList<>();
        outputs.forEachRemaining(blocks::add);
        blocks.sort(Comparator.comparingInt(ShuffleBlock::expert));
        int m = batch.size();
        int d = x.cols();
        Parameters grad = shared.zerosLike();
        Matrix dxPartial = x.precision().zeros(m, d);
        List<ShuffleBlock> backward = new ArrayList<>();
        if (m == 0) {
            return new Combined(this, grad, 0, dxPartial, backward);
        }
        Matrix y = x.precision().zeros(m, d);
        for (ShuffleBlock b : blocks) {
            int e = b.expert();
            checkBlock(b, routing.count(e));
            y.scatterAddRows(b.rows(), routing.rows(), routing.start(e), routing.count(e), routing.gates());
        }
        if (net.moe().residual()) y.axpy(1, x);
        Matrix dY = x.precision().zeros(m, d);
        double lossSum = net.head().lossAndGradient(shared, y, batch, lossScale, dY, grad);
        double[] dGate = gate.gateGradient();
        int slots = gate.slots();
        java.util.Arrays.fill(dGate, 0, m * slots, 0.0);
        for (ShuffleBlock b : blocks) {
            int e = b.expert();
            int s = routing.start(e);
            int c = routing.count(e);
            for (int q = 0; q < c; q++) {
                int row = routing.rows()[s + q];
                dGate[row * slots + routing.slots()[s + q]] = dY.dotRows(row, b.rows(), q);
            }
            Matrix dOut = x.precision().zeros(c, d);
            dOut.gatherRows(dY, routing.rows(), s, c);
            dOut.scaleRows(routing.gates(), s);
            backward.add(ctx.block(partition, e, dOut));
        }
        net.moe().gating().backward(shared, x, gate, statsGradient, grad, dxPartial);
        if (net.moe().residual()) dxPartial.axpy(1, dY);
        return new Combined(this, grad, lossSum, dxPartial, backward);
    }

    private void checkBlock(ShuffleBlock b, int expected) {
        if (b.partition() != partition || b.rows().rows() != expected) {
            throw new IllegalStateException("block for partition " + b.partition() + ", expert " + b.expert() + " with "
                    + b.rows().rows() + " rows arrived at partition " + partition + " which routed " + expected
                    + " rows there");
        }
    }

    /** After combine: the partial shared gradient and what the input-layer backward pass needs. */
    static final class Combined implements java.io.Serializable {
        final PartitionStep step;
        final Parameters sharedGrad;
        final double lossSum;
        final Matrix dxPartial;
        final List<ShuffleBlock> backward;

        Combined(PartitionStep step, Parameters sharedGrad, double lossSum, Matrix dxPartial, List<ShuffleBlock> backward) {
            this.step = step;
            this.sharedGrad = sharedGrad;
            this.lossSum = lossSum;
            this.dxPartial = dxPartial;
            this.backward = backward;
        }

        /** Backward combine: dL/dx from the experts added in, then the input layer's backward pass. */
        PartitionResult finish(StepContext ctx, Parameters shared, Iterator<ShuffleBlock> inputGradients) {
            PartitionStep ps = step;
            Parameters grad = sharedGrad.copy();
            if (ps.batch.size() > 0) {
                Matrix dx = dxPartial.copy();
                List<ShuffleBlock> blocks = new ArrayList<>();
                inputGradients.forEachRemaining(blocks::add);
                blocks.sort(Comparator.comparingInt(ShuffleBlock::expert));
                for (ShuffleBlock b : blocks) {
                    int e = b.expert();
                    ps.checkBlock(b, ps.routing.count(e));
                    dx.scatterAddRows(b.rows(), ps.routing.rows(), ps.routing.start(e), ps.routing.count(e), null);
                }
                ctx.network().input().backward(shared, ps.batch, dx, grad);
            }
            return new PartitionResult(ps.partition, grad, lossSum, ps.batch.size(), ps.weightSum(), ps.stats, ps.expertCounts(), 0);
        }
    }
}
