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
 * <p>The update overwrites the shard's parameters and moments in place (Adam reads p, g, m, v and
 * writes p, m, v: 28 bytes an element instead of 40 into other buffers), except after a lineage
 * root held only in cache (a local checkpoint, or a state built outside from a caller's RDD when
 * there is no checkpoint directory), which must stay readable and is written into the executor's
 * {@link ExpertPool}ed buffers of an older, dead root. What keeps the
 * overwritten state t - 1 from being read as itself ({@link ShardedExperts#update} removes its
 * cached block before the first write, so every later reader recomputes it from the root) is
 * described in docs/DESIGN.md ("The expert update in place"); {@link #checkReadable} turns any reader
 * that still holds the object into a failure instead of wrong values.
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
     * (zero for an expert that got no rows). {@code inPlace}: written over this shard's own buffers
     * (the caller {@link #claim}ed this object and removed its cached block first); else written
     * into this executor's pooled buffers of run {@code run} ({@link #takeState}), and this shard,
     * a lineage root, is not touched. {@code spares}: the run cuts its lineage locally, so updates
     * after its cuts take spare sets, and buffers updated in place join the pool ({@link #pool}).
     */
    ExpertShard update(Optimiser optimiser, ExpertGrads grads, double scale, long step, double learningRate,
                       String run, boolean inPlace, boolean spares) {
        if (inPlace && !overwritten) throw new IllegalStateException("shard " + shard + " updated in place without a claim");
        if (!inPlace) checkReadable();
        Parameters[] g = new Parameters[experts.length];
        if (grads != null) {
            for (int i = 0; i < grads.experts().length; i++) g[indexOf(grads.experts()[i])] = grads.grads()[i];
        }
        Parameters[] p;
        OptimiserState[] s;
        if (inPlace) {
            pool(run, step, spares);
            p = params;
            s = states;
        } else {
            StateBuffers spare = takeState(run, step);
            p = spare.params;
            s = spare.states;
        }
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
            UpdateHook hook = testHook;
            if (hook != null && i == (experts.length - 1) / 2) hook.written(step, shard, i + 1, experts.length);
        }
        return new ExpertShard(shard, experts, p, s);
    }

    /**
     * Tags this shard's buffers, about to be overwritten with state {@code step}, as holding it. A set
     * the pool does not hold yet (the initial state's: drawn from the seed, read from a checkpoint's
     * files, sent from the driver) joins it here, so that once the root it ends in is released the
     * update after a later cut reuses it ({@link #takeState}) instead of allocating a second spare:
     * one full allocation per run with local cuts, not two. Only with local cuts ({@code join}): with
     * reliable ones no update takes a spare, and a pooled set only outlives its state on an executor
     * the shard moved away from. Not while a later state lives on this executor (a recomputation of
     * an old state): that set stays out, as in {@link #takeState}.
     */
    private void pool(String run, long step, boolean join) {
        if (ExpertPool.retag(run, shard, ExpertPool.Kind.STATE, set -> ((StateBuffers) set).params == params, step)) return;
        if (join) offer(run, step, new StateBuffers(params, states));
    }

    /** Puts {@code set} in the pool tagged {@code step} unless a later state of this shard lives on this executor (a recomputation of an old state). */
    private void offer(String run, long step, StateBuffers set) {
        if (ExpertPool.newest(run, shard, ExpertPool.Kind.STATE) <= step) ExpertPool.put(run, shard, ExpertPool.Kind.STATE, step, set);
    }

    /**
     * Buffers for the state {@code step} written from a lineage root: the set already tagged
     * {@code step} (a retried attempt of this update; the root is intact, so it rewrites all of
     * it), else the set of a root two or more steps older (dead: {@link ShardedExperts} unpersists
     * a root once the next one is checkpointed), else new ones, registered as {@code step}. If this
     * executor's sets are already tagged later than {@code step}, this is a recomputation of an old
     * state while a later one lives (after a retried in-place update removed its input): new
     * buffers that are not pooled, so that they share nothing with the live chain.
     */
    private StateBuffers takeState(String run, long step) {
        StateBuffers spare = ExpertPool.newest(run, shard, ExpertPool.Kind.STATE) > step ? null
                : ExpertPool.take(run, shard, ExpertPool.Kind.STATE, step, 2);
        if (spare != null && spare.params.length == experts.length) return spare;
        StateBuffers fresh = new StateBuffers(new Parameters[experts.length], new OptimiserState[experts.length]);
        STATE_SETS_ALLOCATED.incrementAndGet();
        offer(run, step, fresh);
        return fresh;
    }

    /**
     * Set when an in-place update starts overwriting this shard's buffers (before its first write):
     * whoever still holds this object would read parts of a later state. Not serialised: a copy
     * (a block read from disk or another executor) is never overwritten.
     */
    private transient volatile boolean overwritten;

    /**
     * Claims this object for an in-place update, before anything is written (and before its block
     * is removed): only one task attempt may overwrite it; another (a speculative or zombie attempt
     * of the same update on this executor) fails here instead of updating half-updated values.
     */
    synchronized void claim() {
        checkReadable();
        overwritten = true;
    }

    /** Throws if this shard's buffers were (or are being) overwritten by a later update. */
    void checkReadable() {
        if (overwritten) {
            throw new IllegalStateException("the state of expert shard " + shard + " was overwritten in place by a later update; "
                    + "its cached block was removed, so a retried task recomputes it from the lineage");
        }
    }

    /** Test hook: told after about half of a shard's experts were updated; may throw to fail the update there. */
    interface UpdateHook {
        void written(long step, int shard, int expertsWritten, int experts);
    }

    /** For fault tests in local mode (a static of the JVM the tasks run in); null otherwise. */
    static volatile UpdateHook testHook;

    /** Spare state buffer sets this JVM allocated for updates after a held root (tests count them). */
    static final java.util.concurrent.atomic.AtomicLong STATE_SETS_ALLOCATED = new java.util.concurrent.atomic.AtomicLong();

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
