package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.optim.Optimiser;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.linalg.Precision;

/**
 * The experts of one shard with their optimiser state: one element of the expert-state RDD in
 * {@link ExpertPlacement#SHARDED} placement. Holds the parameters and moments only, which is what
 * the block store caches.
 *
 * <p>A shard's values never change after it is built: {@link #update} writes the next values into
 * other buffers and returns a new shard, so the RDD of the previous step stays valid for lineage
 * recomputation. To keep that from costing a copy of every parameter and moment each step, the
 * buffers come from the executor's {@link ExpertPool}: the update of step t writes into the buffers
 * of state t - 2 (dead by then: its RDD was unpersisted after step t - 1), where this executor
 * holds them, and a state that must stay readable (a checkpointed one) is never pooled. The pool is
 * only a cache: a state read from disk or recomputed elsewhere just allocates.
 */
public final class ExpertShard implements Serializable {
    private static final long serialVersionUID = 2L;

    final int shard;
    final int[] experts;
    final Parameters[] params;
    final OptimiserState[] states;

    ExpertShard(int shard, int[] experts, Parameters[] params, OptimiserState[] states) {
        this.shard = shard;
        this.experts = experts;
        this.params = params;
        this.states = states;
    }

    /** Fresh experts of a shard, initialised exactly as {@link MoENetwork#initialise} does. */
    static ExpertShard initialise(MoENetwork net, Optimiser optimiser, Precision precision, long seed, ExpertPartitioner partitioner, int shard) {
        int first = partitioner.firstExpert(shard);
        int last = partitioner.firstExpert(shard + 1);
        int[] experts = new int[last - first];
        Parameters[] params = new Parameters[experts.length];
        OptimiserState[] states = new OptimiserState[experts.length];
        for (int i = 0; i < experts.length; i++) {
            experts[i] = first + i;
            params[i] = net.moe().expert().initialise(precision, new SplittableRandom(MoENetwork.expertSeed(seed, first + i)));
            states[i] = optimiser.newState(params[i]);
        }
        return new ExpertShard(shard, experts, params, states);
    }

    Parameters params(int expert) {
        return params[indexOf(expert)];
    }

    int indexOf(int expert) {
        int i = expert - experts[0];
        if (experts.length == 0 || i < 0 || i >= experts.length || experts[i] != expert) {
            throw new IllegalStateException("expert " + expert + " is not on shard " + shard);
        }
        return i;
    }

    /**
     * The next state: the optimiser applied to every expert with its gradient times {@code scale}
     * (zero for an expert that got no rows), written into this executor's pooled buffers of run
     * {@code run} where it has them. {@code keep}: the next state must stay readable (it will be
     * checkpointed), so its buffers are not pooled.
     */
    ExpertShard update(Optimiser optimiser, ExpertGrads grads, double scale, long step, double learningRate,
                       String run, boolean keep) {
        Parameters[] g = new Parameters[experts.length];
        if (grads != null) {
            for (int i = 0; i < grads.experts().length; i++) g[indexOf(grads.experts()[i])] = grads.grads()[i];
        }
        StateBuffers spare = ExpertPool.take(run, shard, ExpertPool.Kind.STATE, step, 2);
        if (spare == null || spare.params.length != experts.length) {
            spare = new StateBuffers(new Parameters[experts.length], new OptimiserState[experts.length]);
        }
        Parameters[] p = spare.params;
        OptimiserState[] s = spare.states;
        Parameters zeros = null;
        for (int i = 0; i < experts.length; i++) {
            if (p[i] == null) p[i] = params[i].zerosLike();
            if (s[i] == null) s[i] = states[i].copy();
            Parameters gi = g[i];
            if (gi == null) {
                if (zeros == null) zeros = params[i].zerosLike();
                gi = zeros;
            }
            optimiser.stepInto(params[i], states[i], gi, scale, p[i], s[i], step, learningRate);
        }
        if (keep) {
            ExpertPool.forget(run, shard, ExpertPool.Kind.STATE, step);
        } else {
            ExpertPool.put(run, shard, ExpertPool.Kind.STATE, step, spare);
        }
        return new ExpertShard(shard, experts, p, s);
    }

    /** A pooled set of parameter and moment buffers for a shard's experts. */
    private record StateBuffers(Parameters[] params, OptimiserState[] states) {
    }

    public int shard() {
        return shard;
    }

    public int[] experts() {
        return experts.clone();
    }
}
