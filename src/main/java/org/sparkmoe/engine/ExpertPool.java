package org.sparkmoe.engine;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * Per-executor (per-JVM) cache of the large buffers a training run reuses from step to step: the
 * expert parameters and optimiser moments a {@link ShardedExperts} update writes, the experts'
 * gradient buffers and the expert shard's activation arena ({@link ShardStep}), and each data
 * partition's gating state and routing ({@link PartitionStep}, keyed by partition; O(B n)) and per-stage
 * arrays ({@link PartitionBuffers}, handed out by {@link #recycle}). They live here and
 * not in the cached RDD blocks, so the block store holds only what a state is (parameters and
 * moments), the n = 256 state fits in memory instead of spilling, and a step allocates nothing the
 * size of the model.
 *
 * <p>A cache, never a source of values: every buffer it hands out is overwritten completely before
 * it is read, so a lost executor (an empty pool), an evicted entry or a recomputation only costs an
 * allocation, and the results stay bit-identical. Each buffer set is tagged with the generation it
 * holds (the step whose values are in it) and is handed out for
 * <ul>
 * <li>the same generation again (a retried or recomputed task writes the same values into it), or</li>
 * <li>a later generation, once the tagged one is dead: the driver runs steps one after another and
 * unpersists a step's RDDs after it, so activations and gradients of step g are dead when step g + 1
 * runs ({@code minAge} 1). An expert-state set is updated in place from step to step and
 * {@link #retag}ged with each step before it is written; only the update after a root held in cache takes
 * one, a set at least two generations older than itself (the previous root's, dead once the new root
 * is checkpointed; {@link ExpertShard}; the initial state's set is put here at its first in-place
 * update, so it is the spare after the second cut). A recomputation after an executor loss rebuilds older
 * generations from lineage, and those only ever take still older (dead) sets or allocate.</li>
 * </ul>
 * Entries are keyed by a run id (one per {@link SparkMoETrainer}, {@link ExpertExchange} or sequence trainer) and the shard; a run's entries are dropped when the
 * trainer closes (in local mode, where the driver is the executor) or after
 * {@value #IDLE_EVICT_MS} ms without use.
 */
public final class ExpertPool {
    static final long IDLE_EVICT_MS = 10 * 60_000L;
    /** Sets kept per (run, shard, kind): the live generations plus one being recycled. */
    private static final int MAX_PER_KIND = 3;

    private static final Map<Key, Entry> POOL = new HashMap<>();

    /** What a buffer set is for. */
    public enum Kind { STATE, GRADIENTS, ACTIVATIONS, GATE,
        /** a data partition's forward/backward scratch ({@link LocalPipeline}, the recurrent LM's partitions in
         * {@code engine.sequence}) */ WORKSPACE,
        /** a local-routing partition's gradient buffers, keyed by data partition ({@link LocalPipeline}) */ LOCAL_GRADIENTS,
        /** a shuffle-routed data partition's per-stage arrays ({@link PartitionBuffers}, {@link #recycle}), keyed by data partition:
         * the gate's x, */ PARTITION_ROWS,
        /** the dispatch blocks' rows, */ PARTITION_DISPATCH,
        /** the combine's y, dL/dy, partial dL/dx, shared gradient and dOut blocks, */ PARTITION_COMBINE,
        /** the finish's dL/dx and shared gradient, */ PARTITION_FINISH,
        /** the rows the combine reads from the experts' output shuffle, */ PARTITION_READ_OUTPUTS,
        /** and those the finish reads from the dL/dx shuffle; */ PARTITION_READ_INPUT_GRADS,
        /** an expert shard's shuffle reads ({@link ShardStep}, copied into its arena), keyed by shard: the dispatched rows */ SHARD_READ_INPUTS,
        /** and the gate-weighted dL/dy rows */ SHARD_READ_GRADIENTS }

    private record Key(String run, int shard, Kind kind) {
    }

    private static final class Entry {
        final TreeMap<Long, Object> byGeneration = new TreeMap<>();
        long lastUse;
    }

    private ExpertPool() {
    }

    /**
     * The set tagged {@code generation}, else the newest set at least {@code minAge} generations
     * older (retagged as {@code generation}), else null: the caller allocates one and
     * {@link #put}s it.
     */
    @SuppressWarnings("unchecked")
    public static synchronized <T> T take(String run, int shard, Kind kind, long generation, int minAge) {
        long now = System.currentTimeMillis();
        evictIdle(now);
        Entry e = POOL.get(new Key(run, shard, kind));
        if (e == null) return null;
        e.lastUse = now;
        Object same = e.byGeneration.get(generation);
        if (same != null) return (T) same;
        Map.Entry<Long, Object> older = e.byGeneration.floorEntry(generation - minAge);
        if (older == null) return null;
        e.byGeneration.remove(older.getKey());
        e.byGeneration.put(generation, older.getValue());
        return (T) older.getValue();
    }

    /**
     * For buffers that blocks of the running step may still reference (a cached RDD's, or one a
     * retried or speculative attempt of the same task may be reading or writing): a set of an
     * older generation, retagged {@code generation}; never the set another attempt of this
     * generation holds. Else {@code allocate}'s new set, registered as {@code generation}. A task of
     * a generation older than the newest this key has seen is a lineage recomputation of a finished
     * step (after an executor loss) while a later step runs: it gets a new set that is not pooled,
     * so it never shares arrays with the running step.
     */
    static synchronized <T> T recycle(String run, int key, Kind kind, long generation, java.util.function.Supplier<T> allocate) {
        long now = System.currentTimeMillis();
        evictIdle(now);
        Entry e = POOL.computeIfAbsent(new Key(run, key, kind), k -> new Entry());
        e.lastUse = now;
        if (!e.byGeneration.isEmpty() && e.byGeneration.lastKey() > generation) return allocate.get();
        Map.Entry<Long, Object> older = e.byGeneration.floorEntry(generation - 1);
        @SuppressWarnings("unchecked")
        T set = older == null ? allocate.get() : (T) older.getValue();
        if (older != null) e.byGeneration.remove(older.getKey());
        e.byGeneration.put(generation, set);
        while (e.byGeneration.size() > MAX_PER_KIND) e.byGeneration.pollFirstEntry();
        return set;
    }

    /** Registers {@code set} as holding {@code generation} (replacing one so tagged). */
    public static synchronized void put(String run, int shard, Kind kind, long generation, Object set) {
        long now = System.currentTimeMillis();
        Entry e = POOL.computeIfAbsent(new Key(run, shard, kind), k -> new Entry());
        e.lastUse = now;
        e.byGeneration.put(generation, set);
        while (e.byGeneration.size() > MAX_PER_KIND) e.byGeneration.pollFirstEntry();
    }

    /** The newest generation a set of this key is tagged with, or {@code Long.MIN_VALUE} if none. */
    static synchronized long newest(String run, int shard, Kind kind) {
        Entry e = POOL.get(new Key(run, shard, kind));
        return e == null || e.byGeneration.isEmpty() ? Long.MIN_VALUE : e.byGeneration.lastKey();
    }

    /**
     * Retags the set that {@code which} picks (if this key holds one) as {@code generation}: a set
     * updated in place now holds that generation, so it must not be handed out as an older, dead one.
     * Returns whether this key held such a set.
     */
    static synchronized boolean retag(String run, int shard, Kind kind, java.util.function.Predicate<Object> which, long generation) {
        Entry e = POOL.get(new Key(run, shard, kind));
        if (e == null) return false;
        for (Iterator<Map.Entry<Long, Object>> it = e.byGeneration.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Object> x = it.next();
            if (which.test(x.getValue())) {
                Object set = x.getValue();
                it.remove();
                e.byGeneration.put(generation, set);
                e.lastUse = System.currentTimeMillis();
                return true;
            }
        }
        return false;
    }

    /** Drops every entry of {@code run} held by this JVM. */
    public static synchronized void release(String run) {
        POOL.keySet().removeIf(k -> k.run.equals(run));
    }

    /** Drops every entry this JVM holds (tests: a step on an empty pool must give the same values). */
    static synchronized void clear() {
        POOL.clear();
    }

    /** Number of buffer sets this JVM holds for {@code run} (for tests). */
    static synchronized int size(String run) {
        int n = 0;
        for (Map.Entry<Key, Entry> e : POOL.entrySet()) if (e.getKey().run.equals(run)) n += e.getValue().byGeneration.size();
        return n;
    }

    private static void evictIdle(long now) {
        for (Iterator<Entry> it = POOL.values().iterator(); it.hasNext(); ) {
            if (now - it.next().lastUse > IDLE_EVICT_MS) it.remove();
        }
    }
}
