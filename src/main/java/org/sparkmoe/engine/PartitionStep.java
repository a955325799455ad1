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

import scala.Tuple2;

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
    /**
     * Local routing: the executor's pooled workspace whose x and gating state this step's gate
     * filled, so that the forward and backward pass does not gate again. Transient: a copy read from
     * another executor has none and gates again (the same values; the noise is counter-based).
     */
    final transient MoENetwork.Workspace workspace;

    private PartitionStep(int partition, Batch batch, Matrix x, GatingState gate, Routing routing, double[] stats,
                          MoENetwork.Workspace workspace) {
        this.partition = partition;
        this.batch = batch;
        this.x = x;
        this.gate = gate;
        this.routing = routing;
        this.stats = stats;
        this.workspace = workspace;
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
        Matrix x = PartitionBuffers.of(ctx, partition, ExpertPool.Kind.PARTITION_ROWS).rows(0, ctx.precision(), m, net.input().outputDim(), true);
        double[] stats = new double[net.moe().gating().statsSize()];
        GateBuffers buffers = GateBuffers.of(ctx, partition);
        GatingState gate = buffers.gate();
        Routing routing = buffers.routing();
        if (m > 0) {
            net.input().forward(shared, batch, x);
            net.moe().gating().forward(shared, x, batch.exampleIds(), ctx.noise(), gate, stats);
        } else {
            gate.reset(0);
        }
        routing.build(gate);
        return new PartitionStep(partition, batch, x, gate, routing, stats, null);
    }

    /**
     * {@link #gate} for local routing: the input layer and gate run into the partition's pooled
     * forward/backward workspace ({@link LocalPipeline#workspace}), which the local pass continues
     * from. Keeps no x of its own (local routing dispatches nothing).
     */
    static PartitionStep gateLocal(StepContext ctx, Parameters shared, int partition, Iterator<RowBlock> blocks) {
        MoENetwork net = ctx.network();
        Batch batch = selectBatch(ctx, partition, blocks);
        MoENetwork.Workspace ws = LocalPipeline.workspace(ctx, partition);
        GatingState gate = ws.moe().gate();
        Routing routing = ws.moe().routing();
        double[] stats;
        if (batch.size() > 0) {
            stats = net.gate(shared, batch, ctx.noise(), ws);
        } else {
            stats = new double[net.moe().gating().statsSize()];
            gate.reset(0);
        }
        routing.build(gate);
        return new PartitionStep(partition, batch, null, gate, routing, stats, ws);
    }

    /**
     * A partition's gating state (logits, noise, top-k, load estimate: O(B n / P) values) and routing
     * for a step: those of an earlier step from the executor's {@link ExpertPool} when it has them
     * (the gate overwrites every value it reads later), else fresh ones, so that at large n the
     * gate allocates nothing per step.
     */
    private record GateBuffers(org.sparkmoe.core.linalg.Precision precision, GatingState gate, Routing routing) {
        static GateBuffers of(StepContext ctx, int partition) {
            GateBuffers b = ctx.run() == null ? null : ExpertPool.take(ctx.run(), partition, ExpertPool.Kind.GATE, ctx.step(), 1);
            if (b != null && b.precision == ctx.precision()) return b;
            MoENetwork net = ctx.network();
            b = new GateBuffers(ctx.precision(), net.moe().gating().newState(ctx.precision()), new Routing(net.numExperts()));
            if (ctx.run() != null) ExpertPool.put(ctx.run(), partition, ExpertPool.Kind.GATE, ctx.step(), b);
            return b;
        }
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
        ShuffleBlock b = ShuffleBlock.stats(partition, statsWithNormaliser());
        for (int q = 0; q < partitions; q++) out.add(new scala.Tuple2<>(q, b));
        return out;
    }

    /** The balance statistics with the weight sum after them, as every partition receives them. */
    private double[] statsWithNormaliser() {
        double[] withNormaliser = java.util.Arrays.copyOf(stats, stats.length + 1);
        withNormaliser[stats.length] = weightSum();
        return withNormaliser;
    }

    /**
     * {@code steps}' statistics as one barrier message ({@code BarrierTaskContext.allGather} carries
     * strings): per partition its index and the raw bits of each double, so that
     * {@link #decodeStats} gives back exactly the blocks {@link #statsForAll} sends.
     */
    static String encodeStats(List<PartitionStep> steps) {
        StringBuilder out = new StringBuilder();
        for (PartitionStep ps : steps) {
            if (out.length() > 0) out.append(';');
            out.append(ps.partition);
            for (double v : ps.statsWithNormaliser()) out.append(',').append(Long.toHexString(Double.doubleToRawLongBits(v)));
        }
        return out.toString();
    }

    /** The statistics blocks of every partition in {@code messages} ({@link #encodeStats}). */
    static Iterator<ShuffleBlock> decodeStats(String[] messages) {
        List<ShuffleBlock> blocks = new ArrayList<>();
        for (String m : messages) {
            if (m.isEmpty()) continue;
            for (String part : m.split(";")) {
                String[] f = part.split(",");
                double[] v = new double[f.length - 1];
                for (int i = 0; i < v.length; i++) v[i] = Double.longBitsToDouble(Long.parseUnsignedLong(f[i + 1], 16));
                blocks.add(ShuffleBlock.stats(Integer.parseInt(f[0]), v));
            }
        }
        return blocks.iterator();
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

    /**
     * Dispatch (into fresh arrays): one block per expert shard this partition routes rows to, keyed by the shard's first
     * expert there ({@code shards} sends it to the shard), holding the rows of each of the shard's
     * experts one after another in routing order. The routing sorts entries by expert and a shard's
     * experts are a contiguous range, so a shard's rows are one contiguous range of entries.
     */
    List<Tuple2<Integer, ShuffleBlock>> dispatch(ExpertPartitioner shards, boolean bf16) {
        return dispatch(shards, bf16, new PartitionBuffers());
    }

    private List<Tuple2<Integer, ShuffleBlock>> dispatch(ExpertPartitioner shards, boolean bf16, PartitionBuffers buffers) {
        List<Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>(shards.numPartitions());
        int d = x.cols();
        // every entry's row, in routing order: each shard's block is a view of its range (written to the shuffle, then dead)
        Matrix arena = buffers.rows(0, x.precision(), routing.entries(), d, false);
        for (int s = 0; s < shards.numPartitions(); s++) {
            int e0 = shards.firstExpert(s);
            int e1 = shards.firstExpert(s + 1);
            int from = routing.start(e0);
            int total = routing.start(e1) - from;
            if (total == 0) continue;
            int segments = 0;
            for (int e = e0; e < e1; e++) if (routing.count(e) > 0) segments++;
            int[] experts = new int[segments];
            int[] counts = new int[segments];
            for (int e = e0, i = 0; e < e1; e++) {
                if (routing.count(e) == 0) continue;
                experts[i] = e;
                counts[i++] = routing.count(e);
            }
            Matrix rows = arena.slice(from * d, total, d);
            rows.gatherRows(x, routing.rows(), from, total);
            out.add(new Tuple2<>(experts[0], new ShuffleBlock(partition, experts, counts, new Matrix[]{rows}, bf16)));
        }
        return out;
    }

    /** {@link #dispatch(ExpertPartitioner, boolean)} in the step's shuffle payload format. */
    List<Tuple2<Integer, ShuffleBlock>> dispatch(StepContext ctx, ExpertPartitioner shards) {
        return dispatch(shards, ctx.payload() == ShufflePayload.BF16, PartitionBuffers.of(ctx, partition, ExpertPool.Kind.PARTITION_DISPATCH));
    }

    /**
     * {@link #combine(StepContext, Parameters, double[], Iterator)} on the experts' output blocks
     * together with the statistics blocks of all {@code partitions} data partitions, from which the
     * batch-global balance gradient is computed here.
     */
    Combined combine(StepContext ctx, Parameters shared, int partitions, Iterator<ShuffleBlock> outputsAndStats) {
        List<ShuffleBlock> outputs = new ArrayList<>();
        // the experts' outputs are read into a pooled arena: they are dead once combine returns
        PartitionBuffers read = PartitionBuffers.of(ctx, partition, ExpertPool.Kind.PARTITION_READ_OUTPUTS);
        try (PartitionBuffers.ReadArena.Scope ignored = read.arena().open((long) routing.entries() * x.cols())) {
            GlobalStats global = globalStats(ctx.network(), partitions, outputsAndStats, outputs);
            return combine(ctx, shared, ctx.network().moe().balance(global.balance()).statsGradient(), global.lossScale(), outputs.iterator());
        }
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
        blocks.sort(Comparator.comparingInt(ShuffleBlock::firstExpert));
        int m = batch.size();
        int d = x.cols();
        // y and dY are dead when this returns; grad, dxPartial and the dOut rows live in the cached Combined until the step ends
        PartitionBuffers buffers = PartitionBuffers.of(ctx, partition, ExpertPool.Kind.PARTITION_COMBINE);
        Parameters grad = buffers.zerosLike(0, shared);
        Matrix dxPartial = buffers.rows(0, x.precision(), m, d, true);
        List<ShuffleBlock> backward = new ArrayList<>();
        if (m == 0) {
            return new Combined(this, grad, 0, dxPartial, backward);
        }
        checkCovers(blocks);
        Matrix y = buffers.rows(1, x.precision(), m, d, true);
        for (ShuffleBlock b : blocks) {
            // checkCovers: a block's segments are one contiguous range of entries, so one call per block (not one
            // per expert, 128 a block at n = 256) adds the same rows in the same order
            y.scatterAddRows(b.rows(), routing.rows(), routing.start(b.firstExpert()), b.totalRows(), routing.gates());
        }
        if (net.moe().residual()) y.axpy(1, x);
        Matrix dY = buffers.rows(2, x.precision(), m, d, true);
        Matrix dOuts = buffers.rows(3, x.precision(), routing.entries(), d, false);
        double lossSum = net.head().lossAndGradient(shared, y, batch, lossScale, dY, grad);
        double[] dGate = gate.gateGradient();
        int slots = gate.slots();
        java.util.Arrays.fill(dGate, 0, m * slots, 0.0);
        double[] dots = buffers.doubles(routing.entries());
        for (ShuffleBlock b : blocks) {
            int from = routing.start(b.firstExpert());
            int total = b.totalRows();
            // the same entries in the same order go back to the shard: one block with the same segments;
            // dL/dG of each entry (dY . E(x)) and its dOut = G dY from one read of each dY row
            Matrix dOut = dOuts.slice(from * d, total, d);
            dOut.gatherScaledRowsDot(dY, routing.rows(), from, total, routing.gates(), b.rows(), dots);
            for (int q = 0; q < total; q++) {
                dGate[routing.rows()[from + q] * slots + routing.slots()[from + q]] = dots[q];
            }
            backward.add(ctx.block(partition, b, dOut));
        }
        net.moe().gating().backward(shared, x, gate, statsGradient, grad, dxPartial);
        if (net.moe().residual()) dxPartial.axpy(1, dY);
        return new Combined(this, grad, lossSum, dxPartial, backward);
    }

    /**
     * The blocks from the expert shards (sorted by first expert) cover every routing entry exactly
     * once, each block one contiguous range of entries: its segments are, in order, experts with as
     * many rows as this partition routed to them.
     */
    private void checkCovers(List<ShuffleBlock> blocks) {
        int next = 0;
        for (ShuffleBlock b : blocks) {
            if (b.partition() != partition) {
                throw new IllegalStateException("block for partition " + b.partition() + " arrived at partition " + partition);
            }
            for (int i = 0; i < b.segments(); i++) {
                int e = b.segmentExpert(i);
                int routed = e < 0 || e >= routing.numExperts() ? 0 : routing.count(e);
                if (routed == 0 || routing.start(e) != next || b.segmentRows(i) != routed) {
                    throw new IllegalStateException("block for partition " + partition + ", expert " + e + " with "
                            + b.segmentRows(i) + " rows arrived at partition " + partition + " which routed " + routed
                            + " rows there");
                }
                next += routed;
            }
        }
        if (next != routing.entries()) {
            throw new IllegalStateException("partition " + partition + " routed " + routing.entries() + " rows but got "
                    + next + " back from the experts");
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
            // copies into pooled arrays, so that a retried finish starts from the cached Combined as it was
            PartitionBuffers buffers = PartitionBuffers.of(ctx, ps.partition, ExpertPool.Kind.PARTITION_FINISH);
            Parameters grad = buffers.copyOf(0, sharedGrad);
            if (ps.batch.size() > 0) {
                Matrix dx = buffers.rows(0, dxPartial.precision(), dxPartial.rows(), dxPartial.cols(), false);
                dx.copyFrom(dxPartial);
                List<ShuffleBlock> blocks = new ArrayList<>();
                PartitionBuffers read = PartitionBuffers.of(ctx, ps.partition, ExpertPool.Kind.PARTITION_READ_INPUT_GRADS);
                try (PartitionBuffers.ReadArena.Scope ignored = read.arena().open((long) ps.routing.entries() * dx.cols())) {
                    inputGradients.forEachRemaining(blocks::add);
                }
                blocks.sort(Comparator.comparingInt(ShuffleBlock::firstExpert));
                ps.checkCovers(blocks);
                for (ShuffleBlock b : blocks) {
                    dx.scatterAddRows(b.rows(), ps.routing.rows(), ps.routing.start(b.firstExpert()), b.totalRows(), null);
                }
                ctx.network().input().backward(shared, ps.batch, dx, grad);
            }
            return new PartitionResult(ps.partition, grad, lossSum, ps.batch.size(), ps.weightSum(), ps.stats, ps.expertCounts(), 0);
        }
    }
}
