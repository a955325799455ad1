package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.engine.ExpertPartitioner;

import scala.Tuple2;

/**
 * The experts of a fitted model (section 2 of the paper: the expert networks E_1..E_n), in one of
 * two places:
 * <ul>
 *   <li>{@link Local}: an array on the driver, broadcast to score;</li>
 *   <li>{@link Distributed}: a persisted RDD of (expert index, parameters) on the executors, like
 *       ALSModel's factor tables, for models whose experts do not fit on the driver. Partition i
 *       holds the experts of shard i of an {@link ExpertPartitioner} (contiguous ranges of
 *       experts); scoring ships each row to its chosen experts, and saving writes the table from the
 *       executors.</li>
 * </ul>
 * A distributed table is kept with its lineage truncated (reliably checkpointed when the
 * SparkContext has a checkpoint directory, else {@code localCheckpoint}: then losing an executor
 * that holds experts loses them, so save models you want to keep).
 */
public abstract sealed class ExpertTable implements java.io.Serializable permits ExpertTable.Local, ExpertTable.Distributed {
    private static final long serialVersionUID = 1L;

    final int numExperts;

    private ExpertTable(int numExperts) {
        if (numExperts <= 0) throw new IllegalArgumentException("a model needs at least one expert, got " + numExperts);
        this.numExperts = numExperts;
    }

    public static Local local(Parameters[] experts) {
        return new Local(experts);
    }

    /**
     * Adopts {@code experts} (partition i = shard i of {@code partitioner}): persists it, truncates its
     * lineage and materialises it (counting and checking the experts).
     */
    public static Distributed distributed(JavaPairRDD<Integer, Parameters> experts, ExpertPartitioner partitioner) {
        if (experts.getNumPartitions() != partitioner.numPartitions()) {
            throw new IllegalArgumentException("expert RDD has " + experts.getNumPartitions() + " partitions, the layout "
                    + partitioner.numPartitions() + " shards");
        }
        JavaPairRDD<Integer, Parameters> kept = experts.persist(StorageLevel.MEMORY_AND_DISK());
        if (kept.context().getCheckpointDir().isDefined()) {
            kept.checkpoint();
        } else {
            kept.rdd().localCheckpoint();
        }
        ExpertPartitioner p = partitioner;
        List<Integer> misplaced = kept.mapPartitionsWithIndex((s, it) -> {
            List<Integer> bad = new ArrayList<>();
            int count = 0;
            while (it.hasNext()) {
                int e = it.next()._1();
                count++;
                if (e < 0 || e >= p.experts() || p.shardOf(e) != s) bad.add(e);
            }
            if (count != p.firstExpert(s + 1) - p.firstExpert(s)) bad.add(-1 - s);
            return bad.iterator();
        }, true).collect();
        if (!misplaced.isEmpty()) {
            kept.unpersist(false);
            throw new IllegalStateException("expert RDD does not match its layout of " + p.experts() + " experts on "
                    + p.numPartitions() + " shards (misplaced experts, or -1-shard for a shard with the wrong count): " + misplaced);
        }
        return new Distributed(kept, partitioner);
    }

    public int numExperts() {
        return numExperts;
    }

    public abstract boolean isDistributed();

    /** The experts on the driver (collects a distributed table). */
    public abstract Parameters[] toArray();

    /**
     * The experts as (expert, parameters) pairs laid out on {@code shards} contiguous shards (a
     * local table is parallelised; a distributed one is re-sharded only if its shard count differs).
     */
    public abstract JavaPairRDD<Integer, Parameters> pairs(JavaSparkContext sc, int shards);

    /** This table on the driver (gathers a distributed one). */
    public ExpertTable gathered() {
        return isDistributed() ? local(toArray()) : this;
    }

    /**
     * This table distributed over {@code shards} shards (at most the expert count) of the active
     * SparkContext: itself when it already is.
     */
    public Distributed distributedOn(int shards) {
        if (shards < 1) throw new IllegalArgumentException("shards must be >= 1, got " + shards);
        int s = Math.min(shards, numExperts);
        if (this instanceof Distributed d && d.partitioner().numPartitions() == s) return d;
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(org.apache.spark.sql.SparkSession.active().sparkContext());
        return distributed(pairs(sc, s), new ExpertPartitioner(numExperts, s));
    }

    /**
     * All parameters on the driver, with {@code shared}; refused for a distributed table (it would
     * gather every expert on the driver), with a message naming {@code owner}.
     */
    org.sparkmoe.core.network.ModelParameters withShared(Parameters shared, String owner) {
        if (isDistributed()) {
            throw new IllegalStateException("model " + owner + " keeps its " + numExperts
                    + " experts on the executors; call toLocal() to gather them on the driver");
        }
        return new org.sparkmoe.core.network.ModelParameters(shared, toArray());
    }

    /** Frees a distributed table's cached blocks (no-op for a local table). */
    public abstract void unpersist();

    /** Experts held on the driver. */
    public static final class Local extends ExpertTable {
        private static final long serialVersionUID = 1L;
        private final Parameters[] experts;

        private Local(Parameters[] experts) {
            super(experts.length);
            for (int e = 0; e < experts.length; e++) {
                if (experts[e] == null) throw new IllegalArgumentException("expert " + e + " is missing");
            }
            this.experts = experts;
        }

        @Override
        public boolean isDistributed() {
            return false;
        }

        @Override
        public Parameters[] toArray() {
            return experts;
        }

        @Override
        public JavaPairRDD<Integer, Parameters> pairs(JavaSparkContext sc, int shards) {
            List<Tuple2<Integer, Parameters>> pairs = new ArrayList<>();
            for (int e = 0; e < experts.length; e++) pairs.add(new Tuple2<>(e, experts[e]));
            return sc.parallelizePairs(pairs, shards).partitionBy(new ExpertPartitioner(numExperts, shards));
        }

        @Override
        public void unpersist() {
        }
    }

    /** Experts held on the executors. */
    public static final class Distributed extends ExpertTable {
        private static final long serialVersionUID = 1L;
        private final transient JavaPairRDD<Integer, Parameters> experts;
        private final ExpertPartitioner partitioner;

        private Distributed(JavaPairRDD<Integer, Parameters> experts, ExpertPartitioner partitioner) {
            super(partitioner.experts());
            this.experts = experts;
            this.partitioner = partitioner;
        }

        @Override
        public boolean isDistributed() {
            return true;
        }

        /** The persisted (expert, parameters) RDD: partition i holds shard i's experts. */
        public JavaPairRDD<Integer, Parameters> rdd() {
            if (experts == null) {
                throw new IllegalStateException("the experts of a distributed model stay in the SparkContext that holds them; "
                        + "this copy was deserialized without them (save the model and load it instead)");
            }
            return experts;
        }

        public ExpertPartitioner partitioner() {
            return partitioner;
        }

        @Override
        public Parameters[] toArray() {
            Parameters[] out = new Parameters[numExperts];
            for (Tuple2<Integer, Parameters> t : rdd().collect()) out[t._1()] = t._2();
            return out;
        }

        @Override
        public JavaPairRDD<Integer, Parameters> pairs(JavaSparkContext sc, int shards) {
            return shards == partitioner.numPartitions() ? rdd() : rdd().partitionBy(new ExpertPartitioner(numExperts, shards));
        }

        @Override
        public void unpersist() {
            rdd().unpersist(false);
        }
    }
}
