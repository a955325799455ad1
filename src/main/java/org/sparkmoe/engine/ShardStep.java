package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.function.IntFunction;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.expert.ExpertWorkspace;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.Parameters;

import scala.Tuple2;

/**
 * One expert shard's part of a training step: each of its experts runs once on all the rows every
 * data partition sent it (the paper's cure for the shrinking batch, section 3.1), and keeps its
 * inputs and hidden activations for the backward pass. Lives in a persisted RDD for the step.
 *
 * <p>All of the shard's experts share one activation arena (inputs, outputs, hidden activations and
 * their gradients, one contiguous array each, an expert's rows a slice of it) and one gradient set,
 * both from the executor's {@link ExpertPool}, so a step allocates per shard, not per expert, and
 * nothing the size of the activations or the model once the pool is warm.
 */
final class ShardStep implements java.io.Serializable, org.apache.spark.util.KnownSizeEstimation {
    final int shard;
    /** The shard's experts that got rows this step, ascending. */
    private final int[] experts;
    /** Arena rows of expert i: [first[i], first[i + 1]). */
    private final int[] first;
    /** The blocks that came in, by (partition, first expert): each one's partition and segments. */
    private final int[] sources;
    private final int[][] segExperts;
    private final int[][] segCounts;
    /** Arena row of each segment of each block (an expert's rows are its segments in block order). */
    private final int[][] segAt;
    /** This step's rows of the shard's arena: inputs, outputs, dL/dy, dL/dx (rows x d), hidden and its gradient (rows x h). */
    private final Matrix x, y, dy, dx, h, dh;
    private final Parameters[] params;
    /** Where the backward pass writes each expert's parameter gradient. */
    private final Parameters[] gradBuffers;

    private ShardStep(int shard, int[] experts, int[] first, int[] sources, int[][] segExperts, int[][] segCounts,
                      int[][] segAt, Arena arena, Parameters[] params, Parameters[] gradBuffers) {
        this.shard = shard;
        this.experts = experts;
        this.first = first;
        this.sources = sources;
        this.segExperts = segExperts;
        this.segCounts = segCounts;
        this.segAt = segAt;
        int rows = first[experts.length];
        this.x = arena.x.topRows(rows);
        this.y = arena.y.topRows(rows);
        this.dy = arena.dy.topRows(rows);
        this.dx = arena.dx.topRows(rows);
        this.h = arena.h.topRows(rows);
        this.dh = arena.dh.topRows(rows);
        this.params = params;
        this.gradBuffers = gradBuffers;
    }

    /**
     * Gathers the dispatched blocks (each one data partition's rows for one or more of this shard's
     * experts) into the arena, expert after expert, an expert's rows in block order (partition, then
     * first expert), and runs each expert forward on its rows.
     */
    static ShardStep forward(StepContext ctx, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> dispatched,
                             IntFunction<Parameters> paramsOf) {
        List<ShuffleBlock> blocks = sorted(ctx, shard, ExpertPool.Kind.SHARD_READ_INPUTS, 0, dispatched);
        Expert expert = ctx.network().moe().expert();
        int d = expert.dim();
        int hid = expert.hidden();
        // the experts present, ascending, and each one's rows
        int numExperts = ctx.network().numExperts();
        int[] rowsOf = new int[numExperts];
        for (ShuffleBlock b : blocks) {
            for (int s = 0; s < b.segments(); s++) rowsOf[b.segmentExpert(s)] += b.segmentRows(s);
        }
        int n = 0;
        for (int e = 0; e < numExperts; e++) if (rowsOf[e] > 0) n++;
        int[] experts = new int[n];
        int[] first = new int[n + 1];
        int[] at = rowsOf; // reused: the next free arena row of each expert
        for (int e = 0, i = 0; e < numExperts; e++) {
            if (rowsOf[e] == 0) continue;
            experts[i] = e;
            first[i + 1] = first[i] + rowsOf[e];
            at[e] = first[i];
            i++;
        }
        Arena arena = Arena.of(ctx, shard, first[n], d, hid);
        int[] sources = new int[blocks.size()];
        int[][] segExperts = new int[blocks.size()][];
        int[][] segCounts = new int[blocks.size()][];
        int[][] segAt = new int[blocks.size()][];
        for (int j = 0; j < blocks.size(); j++) {
            ShuffleBlock b = blocks.get(j);
            sources[j] = b.partition();
            segExperts[j] = b.segmentExperts();
            segCounts[j] = b.segmentCounts();
            segAt[j] = new int[b.segments()];
            Matrix rows = b.rows();
            for (int s = 0, off = 0; s < b.segments(); off += b.segmentRows(s), s++) {
                int e = b.segmentExpert(s);
                int c = b.segmentRows(s);
                segAt[j][s] = at[e];
                arena.x.slice(at[e] * d, c, d).copyFrom(rows.slice(off * d, c, d));
                at[e] += c;
            }
        }
        Parameters[] grads = gradientSet(ctx, shard);
        Parameters[] params = new Parameters[n];
        Parameters[] gradBuffers = new Parameters[n];
        for (int i = 0; i < n; i++) {
            params[i] = paramsOf.apply(experts[i]);
            if (grads[experts[i]] == null) grads[experts[i]] = params[i].zerosLike();
            gradBuffers[i] = grads[experts[i]];
        }
        ShardStep ss = new ShardStep(shard, experts, first, sources, segExperts, segCounts, segAt, arena, params, gradBuffers);
        for (int i = 0; i < n; i++) {
            expert.forward(params[i], ss.rowsOf(ss.x, i), ss.workspace(i), ss.rowsOf(ss.y, i));
        }
        return ss;
    }

    /** Expert i's rows of one of the arena's matrices. */
    private Matrix rowsOf(Matrix m, int i) {
        int c = m.cols();
        return m.slice(first[i] * c, first[i + 1] - first[i], c);
    }

    private ExpertWorkspace workspace(int i) {
        return ExpertWorkspace.over(rowsOf(h, i), rowsOf(dh, i));
    }

    /** The shard's gradient buffers for this step, indexed by expert (allocated on an expert's first use). */
    private static Parameters[] gradientSet(StepContext ctx, int shard) {
        int n = ctx.network().numExperts();
        Parameters[] set = ctx.run() == null ? null : ExpertPool.take(ctx.run(), shard, ExpertPool.Kind.GRADIENTS, ctx.step(), 1);
        if (set == null || set.length != n) {
            set = new Parameters[n];
            if (ctx.run() != null) ExpertPool.put(ctx.run(), shard, ExpertPool.Kind.GRADIENTS, ctx.step(), set);
        }
        return set;
    }

    /**
     * A shard's activation buffers: rows x d inputs, outputs, dL/dy and dL/dx, rows x h hidden
     * activations and their gradient; every value is written before it is read in a step.
     */
    private record Arena(Matrix x, Matrix y, Matrix dy, Matrix dx, Matrix h, Matrix dh) {
        static Arena of(StepContext ctx, int shard, int rows, int d, int h) {
            Arena a = ctx.run() == null ? null : ExpertPool.take(ctx.run(), shard, ExpertPool.Kind.ACTIVATIONS, ctx.step(), 1);
            if (a != null && a.x.rows() >= rows && a.x.cols() == d && a.h.cols() == h && a.x.precision() == ctx.precision()) {
                return a;
            }
            // room for an eighth more rows at first (a shard's row count varies a little from step to step with the
            // routing), then grow by half again, as Buffers.ensureRows does, so that the pool settles in a step or two
            int have = a == null ? 0 : a.x.rows();
            int cap = Math.max(rows + (rows >> 3), Math.max(16, have + (have >> 1)));
            org.sparkmoe.core.linalg.Precision p = ctx.precision();
            a = new Arena(p.zeros(cap, d), p.zeros(cap, d), p.zeros(cap, d), p.zeros(cap, d), p.zeros(cap, h), p.zeros(cap, h));
            if (ctx.run() != null) ExpertPool.put(ctx.run(), shard, ExpertPool.Kind.ACTIVATIONS, ctx.step(), a);
            return a;
        }
    }

    /**
     * What this step's block holds for the block store: its rows of the activation arena, not the
     * parameters (the cached expert state's), the gradients (counted by the step's
     * {@link ExpertGrads}) nor the whole arena.
     */
    @Override
    public long estimatedSize() {
        long b = 256 + 16L * experts.length;
        for (int[] segs : segExperts) b += 16 + 12L * segs.length;
        return b + StepMemory.bytes(x) + StepMemory.bytes(y) + StepMemory.bytes(dy) + StepMemory.bytes(dx)
                + StepMemory.bytes(h) + StepMemory.bytes(dh);
    }

    /** Combine blocks: the experts' outputs, cut back into the blocks they came from, keyed by data partition. */
    List<Tuple2<Integer, ShuffleBlock>> outputBlocks() {
        return outputBlocks(false);
    }

    /** {@link #outputBlocks()}, as bfloat16 on the wire when {@code bf16}. */
    List<Tuple2<Integer, ShuffleBlock>> outputBlocks(boolean bf16) {
        return cutBack(y, bf16);
    }

    /**
     * One block per block that came in (same partition, same segments), its rows views of
     * {@code m}: the serializer writes the views one after another, so nothing is copied here.
     */
    private List<Tuple2<Integer, ShuffleBlock>> cutBack(Matrix m, boolean bf16) {
        int d = m.cols();
        List<Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>(sources.length);
        for (int j = 0; j < sources.length; j++) {
            Matrix[] parts = new Matrix[segAt[j].length];
            for (int s = 0; s < parts.length; s++) parts[s] = m.slice(segAt[j][s] * d, segCounts[j][s], d);
            out.add(new Tuple2<>(sources[j], new ShuffleBlock(sources[j], segExperts[j], segCounts[j], parts, bf16)));
        }
        return out;
    }

    /** Expert rows processed per expert this step: the expert batch sizes. */
    int[][] batchSizes() {
        int[][] r = new int[experts.length][];
        for (int i = 0; i < experts.length; i++) r[i] = new int[]{experts[i], first[i + 1] - first[i]};
        return r;
    }

    /**
     * Expert backward: the gate-weighted dL/dy blocks (one per forward block, any order) give the
     * expert parameter gradients and dL/dx blocks back to the data partitions.
     */
    synchronized Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>> backward(StepContext ctx, Iterator<Tuple2<Integer, ShuffleBlock>> gradients) {
        Expert expert = ctx.network().moe().expert();
        int d = expert.dim();
        // exactly the forward's rows come back
        List<ShuffleBlock> blocks = sorted(ctx, shard, ExpertPool.Kind.SHARD_READ_GRADIENTS, (long) x.rows() * d, gradients);
        if (blocks.size() != sources.length) {
            throw new IllegalStateException("shard " + shard + " got " + sources.length + " blocks forward but "
                    + blocks.size() + " gradient blocks");
        }
        for (int j = 0; j < sources.length; j++) {
            ShuffleBlock b = blocks.get(j);
            if (b.partition() != sources[j] || !java.util.Arrays.equals(b.segmentExperts(), segExperts[j])
                    || !java.util.Arrays.equals(b.segmentCounts(), segCounts[j])) {
                throw new IllegalStateException("gradient block (partition " + b.partition() + ", experts from " + b.firstExpert()
                        + ") does not match the forward dispatch on shard " + shard);
            }
            Matrix rows = b.rows();
            for (int s = 0, off = 0; s < b.segments(); off += b.segmentRows(s), s++) {
                int c = b.segmentRows(s);
                dy.slice(segAt[j][s] * d, c, d).copyFrom(rows.slice(off * d, c, d));
            }
        }
        Parameters[] grads = new Parameters[experts.length];
        double sumOfSquares = 0;
        for (int i = 0; i < experts.length; i++) {
            grads[i] = gradBuffers[i];
            // overwritten, not accumulated: an expert's rows are one slice of the arena, so it runs backward once,
            // and a retried or recomputed task needs no clearing first
            expert.backward(params[i], rowsOf(x, i), workspace(i), rowsOf(dy, i), rowsOf(dx, i), grads[i], false);
            // the gradient norm's share, summed while the expert's gradient is still in cache (the same sums in the
            // same order as ExpertGrads.sumOfSquares, which at n = 256 read 1 GB of gradients from memory again)
            sumOfSquares += grads[i].flat().sumOfSquares();
        }
        boolean bf16 = ctx.payload() == ShufflePayload.BF16;
        return new Tuple2<>(new ExpertGrads(shard, experts.clone(), grads, sumOfSquares), cutBack(dx, bf16));
    }

    /**
     * {@link #sorted(Iterator)}, the float32 rows read into a pooled arena ({@link PartitionBuffers.ReadArena})
     * for {@code expected} floats (0: as many as the last read): the blocks are copied into the shard's arena
     * and dead when the task ends.
     */
    private static List<ShuffleBlock> sorted(StepContext ctx, int shard, ExpertPool.Kind kind, long expected,
                                             Iterator<Tuple2<Integer, ShuffleBlock>> it) {
        try (PartitionBuffers.ReadArena.Scope ignored = PartitionBuffers.of(ctx, shard, kind).arena().open(expected)) {
            return sorted(it);
        }
    }

    /** The blocks' values by (partition, first expert): a fixed order whatever the shuffle's. */
    private static List<ShuffleBlock> sorted(Iterator<Tuple2<Integer, ShuffleBlock>> it) {
        List<ShuffleBlock> all = new ArrayList<>();
        it.forEachRemaining(t -> all.add(t._2()));
        all.sort(Comparator.comparingInt(ShuffleBlock::partition).thenComparingInt(ShuffleBlock::firstExpert));
        return all;
    }
}
