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
 */
final class ShardStep implements java.io.Serializable {
    final int shard;
    private final int[] experts;
    private final int[][] sources;
    private final int[][] offsets;
    private final Matrix[] inputs;
    private final Matrix[] outputs;
    private final ExpertWorkspace[] workspaces;
    private final Parameters[] params;
    /** Where the backward pass writes each expert's gradient (recycled across steps), or null to allocate. */
    private final Parameters[] gradBuffers;

    private ShardStep(int shard, int[] experts, int[][] sources, int[][] offsets, Matrix[] inputs, Matrix[] outputs,
                      ExpertWorkspace[] workspaces, Parameters[] params, Parameters[] gradBuffers) {
        this.shard = shard;
        this.experts = experts;
        this.sources = sources;
        this.offsets = offsets;
        this.inputs = inputs;
        this.outputs = outputs;
        this.workspaces = workspaces;
        this.params = params;
        this.gradBuffers = gradBuffers;
    }

    /** Gathers the dispatched blocks by expert (source partitions in order) and runs each expert forward. */
    static ShardStep forward(StepContext ctx, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> dispatched, IntFunction<Parameters> paramsOf) {
        return forward(ctx, shard, dispatched, paramsOf, null);
    }

    /**
     * As above; {@code gradientBufferOf} (nullable) gives the buffer each expert's gradient is written
     * into by {@link #backward}, so that a shard allocates no gradients per step.
     */
    static ShardStep forward(StepContext ctx, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> dispatched,
                             IntFunction<Parameters> paramsOf, IntFunction<Parameters> gradientBufferOf) {
        List<List<ShuffleBlock>> byExpert = groupByExpert(dispatched);
        Expert expert = ctx.network().moe().expert();
        int n = byExpert.size();
        int[] experts = new int[n];
        int[][] sources = new int[n][];
        int[][] offsets = new int[n][];
        Matrix[] inputs = new Matrix[n];
        Matrix[] outputs = new Matrix[n];
        ExpertWorkspace[] ws = new ExpertWorkspace[n];
        Parameters[] params = new Parameters[n];
        Parameters[] gradBuffers = new Parameters[n];
        for (int i = 0; i < n; i++) {
            List<ShuffleBlock> blocks = byExpert.get(i);
            experts[i] = blocks.get(0).expert();
            sources[i] = new int[blocks.size()];
            offsets[i] = new int[blocks.size() + 1];
            for (int j = 0; j < blocks.size(); j++) {
                sources[i][j] = blocks.get(j).partition();
                offsets[i][j + 1] = offsets[i][j] + blocks.get(j).rows().rows();
            }
            inputs[i] = concat(blocks, offsets[i][blocks.size()], expert.dim(), ctx);
            outputs[i] = ctx.precision().zeros(inputs[i].rows(), expert.dim());
            ws[i] = new ExpertWorkspace(ctx.precision(), expert.hidden());
            params[i] = paramsOf.apply(experts[i]);
            if (gradientBufferOf != null) gradBuffers[i] = gradientBufferOf.apply(experts[i]);
            expert.forward(params[i], inputs[i], ws[i], outputs[i]);
        }
        return new ShardStep(shard, experts, sources, offsets, inputs, outputs, ws, params, gradBuffers);
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
            Matrix dOut = concat(blocks, inputs[i].rows(), d, ctx);
            Matrix dIn = ctx.precision().zeros(inputs[i].rows(), d);
            if (gradBuffers[i] != null) {
                grads[i] = gradBuffers[i];
                grads[i].flat().fill(0); // a retried or recomputed task starts again from zero
            } else {
                grads[i] = params[i].zerosLike();
            }
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

    private static Matrix concat(List<ShuffleBlock> blocks, int rows, int d, StepContext ctx) {
        Matrix m = ctx.precision().zeros(rows, d);
        int at = 0;
        for (ShuffleBlock b : blocks) {
            m.slice(at * d, b.rows().rows(), d).copyFrom(b.rows());
            at += b.rows().rows();
        }
        return m;
    }
}
