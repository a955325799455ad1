package org.sparkmoe.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeoutException;

import org.apache.spark.Dependency;
import org.apache.spark.MapOutputTrackerMaster;
import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkJobInfo;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.SparkStatusTracker;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.rdd.RDD;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Releases a trainer's shuffles as soon as no RDD it keeps can reach them: map outputs unregistered
 * and files deleted, what Spark's {@code ContextCleaner} does only once a driver GC has collected the
 * {@code ShuffleDependency}, which in a big driver heap is late or never. A step writes hundreds of MB
 * of shuffle files (537 MB at d = 512, h = 1024, B = 16384); left to the cleaner they piled up in page
 * cache and on disk, and on a VM that hands free memory back to its host every write into fresh page
 * cache cost kernel time (BENCHMARKS.md, session 12). MLlib's ALS releases its shuffles after each
 * checkpoint the same way ({@code ALS.cleanShuffleDependencies}).
 *
 * <p>Only shuffles of RDDs this trainer built are touched: the walk through {@code dependencies()}
 * stops at RDDs older than the trainer (the caller's data and its lineage). A shuffle is released
 * only when no retained RDD (the expert state, a held lineage root; {@link ExpertStore#lineage()})
 * reaches it, so a recomputation after a lost executor still finds every map output it needs.
 * Used by {@link SparkMoETrainer} and by the recurrent model's trainer
 * ({@code org.sparkmoe.engine.sequence.SparkSequenceTrainer}).
 */
public final class ShuffleRelease {
    private static final Logger LOG = LoggerFactory.getLogger(ShuffleRelease.class);
    private final SparkContext sc;
    /** RDDs with a smaller id were built before the trainer: the caller's, never walked into. */
    private final int firstRdd;
    /** Shuffles this trainer made and has not released, by id. */
    private final Set<Integer> held = new TreeSet<>();
    /** Whether to release through the context's cleaner when it has one (tests: false takes the other path). */
    private final boolean viaCleaner;

    /** Create it before the trainer's first RDD. */
    public ShuffleRelease(SparkContext sc) {
        this(sc, true);
    }

    ShuffleRelease(SparkContext sc, boolean viaCleaner) {
        this.sc = sc;
        this.viaCleaner = viaCleaner;
        this.firstRdd = sc.emptyRDD(scala.reflect.ClassTag$.MODULE$.AnyRef()).id();
    }

    /** Records the shuffles {@code rdds} reach (built by the trainer; materialised or not). */
    public void track(Collection<? extends JavaRDD<?>> rdds) {
        held.addAll(reach(rdds));
    }

    /**
     * Releases every recorded shuffle that {@code retained} cannot reach; returns how many. A
     * checkpointed RDD's dependencies end at its checkpoint, so after a lineage cut nothing before it is reached.
     */
    public int retainOnly(Collection<? extends JavaRDD<?>> retained) {
        Set<Integer> keep = reach(retained);
        List<Integer> gone = new ArrayList<>();
        for (int id : held) if (!keep.contains(id)) gone.add(id);
        release(gone);
        return gone.size();
    }

    /** Releases every recorded shuffle (the trainer is closed); returns how many. */
    public int releaseAll() {
        return retainOnly(List.of());
    }

    /**
     * Waits, at most {@code timeoutMs}, until no task of the jobs of job group {@code group} runs;
     * returns whether none does. When a job fails Spark does not wait for the other running tasks of
     * its stages, and a map task that ends after its shuffle was released writes files nobody deletes:
     * a failed step calls this before it releases.
     */
    public boolean awaitTasks(String group, long timeoutMs) {
        if (group == null || sc.isStopped()) return true;
        long deadline = System.currentTimeMillis() + timeoutMs;
        SparkStatusTracker status = sc.statusTracker();
        try {
            sc.listenerBus().waitUntilEmpty(timeoutMs); // the status store has seen every task that started
            while (true) {
                boolean running = false;
                for (int job : status.getJobIdsForGroup(group)) {
                    scala.Option<SparkJobInfo> info = status.getJobInfo(job);
                    if (info.isEmpty()) continue;
                    for (int stage : info.get().stageIds()) {
                        scala.Option<SparkStageInfo> s = status.getStageInfo(stage);
                        running |= s.isDefined() && s.get().numActiveTasks() > 0;
                    }
                }
                if (!running) return true;
                if (System.currentTimeMillis() > deadline) return false;
                Thread.sleep(20);
            }
        } catch (TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The recorded shuffles still held, by id (tests). */
    public Set<Integer> held() {
        return new TreeSet<>(held);
    }

    /** The shuffles the trainer's RDDs among {@code rdds} and their ancestors depend on. */
    private Set<Integer> reach(Collection<? extends JavaRDD<?>> rdds) {
        Set<Integer> shuffles = new HashSet<>();
        Set<Integer> seen = new HashSet<>();
        ArrayDeque<RDD<?>> todo = new ArrayDeque<>();
        for (JavaRDD<?> r : rdds) if (r != null) todo.push(r.rdd());
        while (!todo.isEmpty()) {
            RDD<?> r = todo.pop();
            if (r.id() < firstRdd || !seen.add(r.id())) continue;
            scala.collection.Iterator<Dependency<?>> deps = r.dependencies().iterator();
            while (deps.hasNext()) {
                Dependency<?> d = deps.next();
                if (d instanceof ShuffleDependency<?, ?, ?> s) shuffles.add(s.shuffleId());
                todo.push(d.rdd());
            }
        }
        return shuffles;
    }

    /**
     * Unregisters the shuffles' map outputs and deletes their files, waiting for the block managers
     * so that the files are gone (and their page cache free) when this returns. Through the context's
     * cleaner where there is one (it also tells its listeners), else as the cleaner would
     * ({@code spark.cleaner.referenceTracking=false}). Releasing a shuffle twice (the cleaner may come
     * later for the same dependency) does nothing.
     */
    private void release(List<Integer> ids) {
        if (ids.isEmpty()) return;
        held.removeAll(ids);
        if (sc.isStopped()) return;
        scala.Option<org.apache.spark.ContextCleaner> cleaner = sc.cleaner();
        for (int id : ids) {
            try {
                if (viaCleaner && cleaner.isDefined()) {
                    cleaner.get().doCleanupShuffle(id, true);
                } else {
                    MapOutputTrackerMaster tracker = (MapOutputTrackerMaster) sc.env().mapOutputTracker();
                    if (!tracker.containsShuffle(id)) continue;
                    // files first: the tracker knows where they are (as ContextCleaner orders it)
                    sc.shuffleDriverComponents().removeShuffle(id, true);
                    tracker.unregisterShuffle(id);
                }
            } catch (RuntimeException e) {
                LOG.warn("could not release shuffle {}: {}", id, e.toString());
            }
        }
        LOG.debug("released shuffles {}", ids);
    }
}
