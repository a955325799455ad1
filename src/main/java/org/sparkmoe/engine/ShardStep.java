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
    private final int[] experts;
    private final int[][] sources;
    private final int[][] offsets;
    private final Matrix[] inputs;
    private final Matrix[] outputs;
    private final ExpertWorkspace[] workspaces;
    private final Parameters[] params;
    /** Where the backward pass writes each expert's dL/dy and dL/dx (views into the arena). */
    private final Matrix[] outputGrads;
    private final Matrix[] inputGrads;
    /** Where the backward pass writes each expert's parameter gradient. */
    private final Parameters[] gradBuffers;

    private ShardStep(int shard, int[] experts, int[][] sources, int[][] offsets, Matrix[] inputs, Matrix[] outputs,
                      ExpertWorkspace[] workspaces, Parameters[] params, Matrix[] outputGrads, Matrix[] inputGrads,
                      Parameters[] gradBuffers) {
        this.shard = shard;
        this.experts = experts;
        this.sources = sources;
        this.offsets = offsets;
        this.inputs = inputs;
        this.outputs = outputs;
        this.workspaces = workspaces;
        this.params = params;
        this.outputGrads = outputGrads;
        this.inputGrads = inputGrads;
        this.gradBuffers = gradBuffers;
    }

    /** Gathers the dispatched blocks by expert (source partitions in order) and runs each expert forward. */
    static ShardStep forward(StepContext ctx, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> dispatched,
                             IntFunction<Parameters> paramsOf) {
        List<List<ShuffleBlock>> byExpert = groupByExpert(dispatched);
        Expert expert = ctx.network().moe().expert();
        int d = expert.dim();
        int h = expert.hidden();
        int n = byExpert.size();
        int[] experts = new int[n];
        int[][] sources = new int[n][];
        int[][] offsets = new int[n][];
        int[] first = new int[n + 1];
        for (int i = 0; i < n; i++) {
            List<ShuffleBlock> blocks = byExpert.get(i);
            experts[i] = blocks.get(0).expert();
            sources[i] = new int[blocks.size()];
            offsets[i] = new int[blocks.size() + 1];
            for (int j = 0; j < blocks.size(); j++) {
                sources[i][j] = blocks.get(j).partition();
                offsets[i][j + 1] = offsets[i][j] + blocks.get(j).rows().rows();
            }
            first[i + 1] = first[i] + offsets[i][blocks.size()];
        }
        Arena arena = Arena.of(ctx, shard, first[n], d, h);
        Parameters[] grads = gradientSet(ctx, shard);
        Matrix[] inputs = new Matrix[n];
        Matrix[] outputs = new Matrix[n];
        Matrix[] outputGrads = new Matrix[n];
        Matrix[] inputGrads = new Matrix[n];
        ExpertWorkspace[] ws = new ExpertWorkspace[n];
        Parameters[] params = new Parameters[n];
        Parameters[] gradBuffers = new Parameters[n];
        for (int i = 0; i < n; i++) {
            int m = first[i + 1] - first[i];
            inputs[i] = arena.x.slice(first[i] * d, m, d);
            outputs[i] = arena.y.slice(first[i] * d, m, d);
            outputGrads[i] = arena.dy.slice(first[i] * d, m, d);
            inputGrads[i] = arena.dx.slice(first[i] * d, m, d);
            ws[i] = ExpertWorkspace.over(arena.h.slice(first[i] * h, m, h), arena.dh.slice(first[i] * h, m, h));
            concat(byExpert.get(i), inputs[i], d);
            params[i] = paramsOf.apply(experts[i]);
            if (grads[experts[i]] == null) grads[experts[i]] = params[i].zerosLike();
            gradBuffers[i] = grads[experts[i]];
            expert.forward(params[i], inputs[i], ws[i], outputs[i]);
        }
        return new ShardStep(shard, experts, sources, offsets, inputs, outputs, ws, params, outputGrads, inputGrads, gradBuffers);
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
     * What this step's block holds for the block store: its experts' slices of the activation arena,
     * not the parameters (the cached expert state's), the gradients (counted by the step's
     * {@link ExpertGrads}) nor the whole arena.
     */
    @Override
    public long estimatedSize() {
        long b = 256;
        for (int i = 0; i < experts.length; i++) {
            b += 16L * (sources[i].length + 1) + StepMemory.bytes(inputs[i]) + StepMemory.bytes(outputs[i])
                    + StepMemory.bytes(outputGrads[i]) + StepMemory.bytes(inputGrads[i])
                    + 2 * StepMemory.bytes(inputs[i]) / Math.max(1, inputs[i].cols()) * params[i].get(Expert.B1).cols(); // hidden and its gradient
        }
        return b;
    }

    /** Combine blocks: each expert's outputs, cut back into the blocks they came from, keyed by data partition. */
    List<Tuple2<Integer, ShuffleBlock>> outputBlocks() {
        return outputBlocks(false);
    }

    /** {@link #outputBlocks()}, as bfloat16 on the wire when {@code bf16}. */
    List<Tuple2<Integer, ShuffleBlock>> outputBlocks(boolean bf16) {
        List<Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>();
        for (int i = 0; i < experts.length; i++) {
            int d = outputs[i].cols();
            for (int j = 0; j < sources[i].length; j++) {
                int from = offsets[i][j];
                Matrix rows = outputs[i].slice(from * d, offsets[i][j + 1] - from, d);
                out.add(new Tuple2<>(sources[i][j], new ShuffleBlock(sources[i][j], experts[i], rows, bf16)));
            }
        }
        return out;
    }

    /** Expert rows processed per expert this step: the expert batch sizes. */
    int[][] batchSizes() {
        int[][] r = new int[experts.length][];
        for (int i = 0; i < experts.length; i++) r[i] = new int[]{experts[i], inputs[i].rows()};
        return r;
    }

    /**
     * Expert backward: the gate-weighted dL/dy blocks (one per source block, any order) give the
     * expert parameter gradients and dL/dx blocks back to the data partitions.
     */
    synchronized Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>> backward(StepContext ctx, Iterator<Tuple2<Integer, ShuffleBlock>> gradients) {
        List<List<ShuffleBlock>> byExpert = groupByExpert(gradients);
        Expert expert = ctx.network().moe().expert();
        if (byExpert.size() != experts.length) {
            throw new IllegalStateException("shard " + shard + " ran " + experts.length + " experts forward but got gradients for "
                    + byExpert.size());
        }
        Parameters[] grads = new Parameters[experts.length];
        List<Tuple2<Integer, ShuffleBlock>> back = new ArrayList<>();
        for (int i = 0; i < experts.length; i++) {
            List<ShuffleBlock> blocks = byExpert.get(i);
            for (int j = 0; j < blocks.size(); j++) {
                ShuffleBlock b = blocks.get(j);
                if (b.expert() != experts[i] || j >= sources[i].length || b.partition() != sources[i][j]
                        || b.rows().rows() != offsets[i][j + 1] - offsets[i][j]) {
                    throw new IllegalStateException("gradient block (partition " + b.partition() + ", expert " + b.expert()
                            + ") does not match the forward dispatch on shard " + shard);
                }
            }
            int d = expert.dim();
            Matrix dOut = outputGrads[i];
            concat(blocks, dOut, d);
            Matrix dIn = inputGrads[i];
            grads[i] = gradBuffers[i];
            grads[i].flat().fill(0); // a retried or recomputed task starts again from zero
            expert.backward(params[i], inputs[i], workspaces[i], dOut, dIn, grads[i]);
            for (int j = 0; j < sources[i].length; j++) {
                int from = offsets[i][j];
                Matrix rows = dIn.slice(from * d, offsets[i][j + 1] - from, d);
                back.add(new Tuple2<>(sources[i][j], ctx.block(sources[i][j], experts[i], rows)));
            }
        }
        return new Tuple2<>(new ExpertGrads(shard, experts.clone(), grads), back);
    }

    private static List<List<ShuffleBlock>> groupByExpert(Iterator<Tuple2<Integer, ShuffleBlock>> it) {
        List<ShuffleBlock> all = new ArrayList<>();
        it.forEachRemaining(t -> all.add(t._2()));
        all.sort(Comparator.comparingInt(ShuffleBlock::expert).thenComparingInt(ShuffleBlock::partition));
        List<List<ShuffleBlock>> groups = new ArrayList<>();
        for (ShuffleBlock b : all) {
            if (groups.isEmpty() || groups.get(groups.size() - 1).get(0).expert() != b.expert()) groups.add(new ArrayList<>());
            groups.get(groups.size() - 1).add(b);
        }
        return groups;
    }

    /** Copies the blocks' rows one after another into {@code into}. */
    private static void concat(List<ShuffleBlock> blocks, Matrix into, int d) {
        int at = 0;
        for (ShuffleBlock b : blocks) {
            into.slice(at * d, b.rows().rows(), d).copyFrom(b.rows());
            at += b.rows().rows();
        }
        if (at != into.rows()) throw new IllegalStateException("blocks hold " + at + " rows, expected " + into.rows());
    }
}
