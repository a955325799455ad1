package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.RDDBlockId;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.core.optim.Optimiser;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;

/**
 * {@link ExpertPlacement#SHARDED}: the experts and their optimiser state live on the executors, in
 * an RDD with one {@link ExpertShard} per partition (shard i = partition i, an
 * {@link ExpertPartitioner} layout), and never reach the driver during training. Each step the
 * shards run forward next to their state; the update (the step's second job) zips the state with
 * the gradients into the next state RDD, written over the previous state's buffers in place
 * ({@link ExpertShard}, {@link #update}). Every {@code lineageCheckpointInterval} steps the state is
 * checkpointed to cut its lineage, into files where the context has a checkpoint directory, so that
 * it can be overwritten in place as well. The state this store starts from is a lineage root that
 * is either recomputable bit for bit ({@link Root#RECOMPUTABLE}: drawn from the seed, read from a
 * checkpoint's files, parallelized from the driver), overwritten in place like any state with no
 * copy written or held, or not ({@link Root#OPAQUE}), then treated like a root held only in cache (a
 * local checkpoint): never overwritten (the update after it writes into the pooled buffers of an
 * older root, {@link ExpertPool}) and cached until the next root (with a checkpoint directory it is
 * checkpointed into files first). The states the updates since the last root overwrote stay marked
 * persisted (their blocks are gone) until the next root, so that a recomputation caches each once
 * instead of recomputing it for both of its readers (the update and the experts' forward) at every
 * level: linear in the steps since the root, not exponential.
 */
final class ShardedExperts implements ExpertStore {
    /**
     * {@code -Dsparkmoe.localCuts=true}: cut the lineage with local checkpoints even where the context
     * has a checkpoint directory (measurement: a reliable cut writes the whole state, 3.2 GB at n = 256).
     */
    private static final boolean LOCAL_CUTS = Boolean.getBoolean("sparkmoe.localCuts");
    private final JavaSparkContext sc;
    private final Optimiser optimiser;
    private final int numExperts;
    private final int lineageCheckpointInterval;
    private final String run;
    private JavaRDD<ExpertShard> state;
    /** Whether {@link #state} was checkpointed (or built outside), so later states' lineage does not reach back past it. */
    private boolean stateKept;
    /**
     * The root of {@link #state}'s lineage when its cached blocks are its only copy (a local
     * checkpoint, or an opaque state built outside when there is no checkpoint directory), else null (the
     * root is in checkpoint files or recomputable). The update after it writes into other buffers, and it stays
     * cached until the next root: the in-place updates since overwrote every state after it, and a
     * recomputation starts here.
     */
    private JavaRDD<ExpertShard> heldRoot;
    /**
     * The states overwritten in place since the last root, still marked persisted though their
     * blocks were removed: a recomputation of the chain (a lost executor, a retried update) caches
     * each one it rebuilds for its second reader instead of rebuilding it again (twice per step back
     * otherwise, the update and the experts' forward both read it). Unpersisted at the next root.
     */
    private final List<JavaRDD<ExpertShard>> overwritten = new ArrayList<>();
    /** Called once the lineage no longer reaches {@link #state}'s first root (its files may then go), or null. */
    private Runnable rootReleased;
    private final List<Broadcast<?>> lineageBroadcasts = new ArrayList<>();
    /**
     * The checkpoint files of the current root when it is in files, else null: deleted once the next
     * root is in files, and on {@link #close} (Spark keeps them forever unless
     * {@code spark.cleaner.referenceTracking.cleanCheckpoints}; at n = 256 a root is 3.2 GB).
     */
    private String rootFiles;
    /** Per shard, the executor this step's forward, backward and update prefer (where its state is cached), or null. */
    private String[] pins;

    /** What the state a store starts from is, for its recomputation after a loss. */
    enum Root {
        /**
         * Recomputable bit for bit from its own lineage, which holds no copy that an in-place update
         * could reach (drawn from the seed, read from files, parallelized from the driver: each
         * computation gives fresh objects): overwritten in place by the first update like any state.
         */
        RECOMPUTABLE,
        /** Anything else (a caller's RDD): written into checkpoint files, or held in cache until the next root. */
        OPAQUE
    }

    /**
     * @param state        the initial state, one {@link ExpertShard} per partition in shard order
     * @param root         whether {@code state} is recomputable from its lineage
     * @param rootReleased run once the lineage no longer reaches {@code state} (the first root
     *                     after it, or {@link #close}); null for none
     */
    ShardedExperts(JavaSparkContext sc, Optimiser optimiser, int numExperts, int lineageCheckpointInterval, String run,
                   JavaRDD<ExpertShard> state, Root root, Runnable rootReleased) {
        this.sc = sc;
        this.optimiser = optimiser;
        this.numExperts = numExperts;
        this.lineageCheckpointInterval = lineageCheckpointInterval;
        this.run = run;
        this.rootReleased = rootReleased;
        this.state = state.persist(StorageLevel.MEMORY_AND_DISK());
        this.stateKept = true; // built outside this class: not from the pool
        if (root == Root.OPAQUE && sc.getCheckpointDir().isPresent()) {
            // in files, a root can be overwritten in place like any state: a recomputation reads the files
            this.state.checkpoint();
            this.state.count();
            this.rootFiles = this.state.getCheckpointFile().orNull();
        }
        this.heldRoot = root == Root.RECOMPUTABLE || this.state.isCheckpointed() ? null : this.state;
    }

    JavaRDD<ExpertShard> state() {
        return state;
    }

    @Override
    public void beginStep() {
        pins = statePlaces();
    }

    /**
     * Per shard, the executor that caches its state ({@code executor_<host>_<id>}), each executor
     * claimed by one shard at most: a shard whose state shares an executor with an earlier shard's
     * gets no preference this step, runs where a core is free, and its next state is cached there,
     * so the states spread over the executors instead of settling on one.
     */
    private String[] statePlaces() {
        int n = state.getNumPartitions();
        String[] out = new String[n];
        java.util.Set<String> claimed = new java.util.HashSet<>();
        for (int i = 0; i < n; i++) {
            for (Object loc : scala.jdk.javaapi.CollectionConverters.asJava(sc.sc().getPreferredLocs(state.rdd(), i))) {
                String l = loc.toString();
                if (l.startsWith("executor_") && claimed.add(l)) {
                    out[i] = l;
                    break;
                }
            }
        }
        return out;
    }

    private <T> JavaRDD<T> pinned(JavaRDD<T> rdd) {
        return pins == null ? rdd : new JavaRDD<>(new PinnedRDD<>(rdd.rdd(), pins), rdd.classTag());
    }

    @Override
    public JavaRDD<ShardStep> forward(StepContext ctx, JavaPairRDD<Integer, ShuffleBlock> dispatched, StageClock clock) {
        // pinned to the state's executor; the backward zips this RDD and inherits the preference
        return pinned(dispatched.zipPartitions(state, (it, st) -> {
            ExpertShard es = st.next();
            es.checkReadable();
            if (es.params.length > 0) HeapRegionAdvice.check(es.params[0]);
            while (st.hasNext()) st.next(); // releases the cached block's read lock: an in-place update removes that block
            long t0 = System.nanoTime();
            ShardStep ss = ShardStep.forward(ctx, es.shard, it, es::params);
            clock.experts(t0);
            return Collections.singletonList(ss).iterator();
        }));
    }

    /**
     * Each shard sends its experts to every data partition through the step's statistics shuffle,
     * so local routing needs no gather to the driver (which was a job of its own).
     */
    @Override
    public LocalCopies localCopies(int partitions) {
        return new LocalCopies(null, state.flatMapToPair(s -> {
            s.checkReadable();
            List<scala.Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>(partitions * s.experts.length);
            for (int q = 0; q < partitions; q++) {
                for (int i = 0; i < s.experts.length; i++) out.add(new scala.Tuple2<>(q, new ShuffleBlock(s.shard, s.experts[i], s.params[i].flat())));
            }
            return out.iterator();
        }));
    }

    /**
     * The update job: state t from state t - 1 and the step's gradients, in place unless state
     * t - 1 is the {@link #heldRoot} ({@link ExpertShard#update}). An in-place task removes state
     * t - 1's cached block from its executor (telling the master) before it writes, so that no later
     * reader (a retried or speculative attempt, another job) finds the overwritten object as state
     * t - 1: they recompute it from the lineage's root (recomputed itself, in checkpoint files or
     * held in cache).
     */
    @Override
    public void update(JavaRDD<ExpertGrads> grads, double scale, long step, double learningRate) {
        Optimiser opt = optimiser;
        String r = run;
        boolean cut = step % lineageCheckpointInterval == 0;
        boolean inPlace = state != heldRoot;
        // local cuts: the update after each takes a spare set, which the initial state's buffers then join
        boolean spares = LOCAL_CUTS || !sc.getCheckpointDir().isPresent();
        int stateId = state.id();
        JavaRDD<ExpertShard> next = pinned(state.zipPartitions(grads, (sit, git) -> {
            ExpertShard s = sit.next();
            ExpertGrads g = git.hasNext() ? git.next() : null;
            if (inPlace) {
                // the block's read lock is released when its iterator ends; removing it waits for all readers
                while (sit.hasNext()) sit.next();
                s.claim();
                SparkEnv.get().blockManager().removeBlock(new RDDBlockId(stateId, TaskContext.getPartitionId()), true);
            }
            return Collections.singletonList(s.update(opt, g, scale, step, learningRate, r, inPlace, spares)).iterator();
        })).persist(StorageLevel.MEMORY_AND_DISK());
        boolean reliable = cut && sc.getCheckpointDir().isPresent() && !LOCAL_CUTS;
        if (reliable) {
            next.checkpoint();
        } else if (cut) {
            next.rdd().localCheckpoint();
        }
        next.setName("spark-moe expert state after step " + step);
        next.count();
        // an in-place update removed state t - 1's blocks already; it stays marked persisted until the next root
        // (see overwritten), and a held root stays cached until then
        if (state != heldRoot) overwritten.add(state);
        if (cut) releaseLineage();
        if (cut && !reliable) heldRoot = next;
        if (reliable) {
            // nothing kept reads the previous root's files now: the lineage starts at these
            deleteRootFiles();
            rootFiles = next.getCheckpointFile().orNull();
        }
        state = next;
        stateKept = cut;
        if (cut) {
            for (Broadcast<?> b : lineageBroadcasts) b.destroy(false);
            lineageBroadcasts.clear();
        }
    }

    /** The lineage was cut at the current state (checkpointed and counted): what only the old lineage needed goes. */
    private void releaseLineage() {
        for (JavaRDD<ExpertShard> r : overwritten) r.unpersist(false);
        overwritten.clear();
        if (heldRoot != null) {
            heldRoot.unpersist(false);
            heldRoot = null;
        }
        if (rootReleased != null) {
            rootReleased.run();
            rootReleased = null;
        }
    }

    /** Deletes the current root's checkpoint files, if it is in files (as MLlib's ALS deletes its previous checkpoint). */
    private void deleteRootFiles() {
        if (rootFiles == null) return;
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(rootFiles);
        try {
            p.getFileSystem(sc.hadoopConfiguration()).delete(p, true);
        } catch (java.io.IOException | RuntimeException e) {
            org.slf4j.LoggerFactory.getLogger(ShardedExperts.class).warn("could not delete the expert state's checkpoint {}: {}", rootFiles, e.toString());
        }
        rootFiles = null;
    }

    @Override
    public void endStep(List<Broadcast<?>> stepBroadcasts) {
        // the new expert state's lineage reaches back into this step until the next checkpoint
        if (stateKept) {
            for (Broadcast<?> b : stepBroadcasts) b.destroy(false);
        } else {
            lineageBroadcasts.addAll(stepBroadcasts);
        }
    }

    /** The state, the held root and the overwritten states (their lineage is within the state's; listed for clarity). */
    @Override
    public List<JavaRDD<?>> lineage() {
        List<JavaRDD<?>> out = new ArrayList<>(overwritten);
        out.add(state);
        if (heldRoot != null) out.add(heldRoot);
        return out;
    }

    @Override
    public Gathered gather() {
        Parameters[] p = new Parameters[numExperts];
        OptimiserState[] o = new OptimiserState[numExperts];
        for (ExpertShard s : state.collect()) { // copies: an in-place update never reaches them
            for (int i = 0; i < s.experts.length; i++) {
                p[s.experts[i]] = s.params[i];
                o[s.experts[i]] = s.states[i];
            }
        }
        return new Gathered(p, o);
    }

    /** (expert index, parameters) pairs where they live: partition i holds shard i. */
    JavaPairRDD<Integer, Parameters> pairs() {
        return state.mapPartitionsToPair(it -> {
            List<scala.Tuple2<Integer, Parameters>> out = new ArrayList<>();
            while (it.hasNext()) {
                ExpertShard s = it.next();
                s.checkReadable();
                for (int i = 0; i < s.experts.length; i++) out.add(new scala.Tuple2<>(s.experts[i], s.params[i]));
            }
            return out.iterator();
        }, true);
    }

    @Override
    public void close() {
        state.unpersist(false);
        releaseLineage();
        deleteRootFiles();
        for (Broadcast<?> b : lineageBroadcasts) b.destroy(false);
        lineageBroadcasts.clear();
    }
}
