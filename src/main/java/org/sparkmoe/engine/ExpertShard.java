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
 * {@link ExpertPlacement#SHARDED} placement. Immutable by convention: an update returns a new
 * shard, so the RDD of the previous step stays valid for lineage recomputation.
 */
public final class ExpertShard implements Serializable {
    private static final long serialVersionUID = 1L;

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

    /** A new shard with the optimiser applied to copies of the parameters and states. */
    ExpertShard update(Optimiser optimiser, ExpertGrads grads, double scale, long step, double learningRate) {
        Parameters[] p = new Parameters[experts.length];
        OptimiserState[] s = new OptimiserState[experts.length];
        Parameters[] g = new Parameters[experts.length];
        if (grads != null) {
            for (int i = 0; i < grads.experts().length; i++) g[indexOf(grads.experts()[i])] = grads.grads()[i];
        }
        for (int i = 0; i < experts.length; i++) {
            p[i] = params[i].copy();
            s[i] = states[i].copy();
            // the gradient belongs to a persisted RDD: scale a copy, never the original
            Parameters gi = g[i] == null ? params[i].zerosLike() : scale != 1.0 ? g[i].copy() : g[i];
            if (scale != 1.0 && g[i] != null) gi.flat().scale(scale);
            optimiser.step(p[i], gi, s[i], step, learningRate);
        }
        return new ExpertShard(shard, experts, p, s);
    }

    public int shard() {
        return shard;
    }

    public int[] experts() {
        return experts.clone();
    }
}
