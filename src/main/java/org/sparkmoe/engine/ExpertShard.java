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
 * {@link ExpertPlacement#SHARDED} placement.
 *
 * <p>A shard's values never change after it is built: {@link #update} writes the next values into
 * other buffers and returns a new shard, so the RDD of the previous step stays valid for lineage
 * recomputation. To keep that from costing a copy of every parameter and moment each step, the
 * buffers are recycled along the chain of states: the new shard takes the buffers of the state
 * two steps back (dead by then: its RDD was unpersisted, and a recomputation builds fresh objects)
 * as the place its own successor will be written, and the gradient buffers of the step that ran on
 * it. A state that stays readable (a checkpointed one) hands nothing on. None of these buffers are
 * serialised: a copy read from disk or another executor starts a new chain.
 */
public final class ExpertShard implements Serializable {
    private static final long serialVersionUID = 1L;

    final int shard;
    final int[] experts;
    final Parameters[] params;
    final OptimiserState[] states;
    /** Where the next update writes (the values of the state two steps back), or null. */
    private transient Parameters[] spareParams;
    private transient OptimiserState[] spareStates;
    /** The gradient buffers a step on this state writes (overwritten, never accumulated across steps). */
    private transient Parameters[] grads;

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

    /** The gradient buffer of {@code expert} for a step run on this state (allocated on first use). */
    synchronized Parameters gradientBuffer(int expert) {
        int i = indexOf(expert);
        if (grads == null) grads = new Parameters[experts.length];
        if (grads[i] == null) grads[i] = params[i].zerosLike();
        return grads[i];
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
     * (zero for an expert that got no rows), written into recycled buffers where this state has
     * them. {@code handOn} false keeps this state's own buffers out of the chain (it stays readable).
     */
    ExpertShard update(Optimiser optimiser, ExpertGrads grads, double scale, long step, double learningRate, boolean handOn) {
        Parameters[] g = new Parameters[experts.length];
        if (grads != null) {
            for (int i = 0; i < grads.experts().length; i++) g[indexOf(grads.experts()[i])] = grads.grads()[i];
        }
        Parameters[] p = spareParams != null ? spareParams : new Parameters[experts.length];
        OptimiserState[] s = spareStates != null ? spareStates : new OptimiserState[experts.length];
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
        ExpertShard next = new ExpertShard(shard, experts, p, s);
        if (handOn) {
            next.spareParams = params;
            next.spareStates = states;
            next.grads = this.grads;
        }
        return next;
    }

    public int shard() {
        return shard;
    }

    public int[] experts() {
        return experts.clone();
    }
}
