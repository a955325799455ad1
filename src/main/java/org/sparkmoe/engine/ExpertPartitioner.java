package org.sparkmoe.engine;

import org.apache.spark.Partitioner;

/**
 * Maps expert ids (the shuffle key of dispatch blocks) to expert shards: contiguous ranges, expert
 * e on shard {@code e * shards / experts}, so a shard holds experts [first(s), first(s+1)).
 */
public final class ExpertPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;

    private final int experts;
    private final int shards;

    public ExpertPartitioner(int experts, int shards) {
        if (experts <= 0 || shards <= 0) {
            throw new IllegalArgumentException("need positive experts and shards, got " + experts + " and " + shards);
        }
        if (shards > experts) {
            throw new IllegalArgumentException("expert shards (" + shards + ") cannot exceed experts (" + experts + ")");
        }
        this.experts = experts;
        this.shards = shards;
    }

    @Override
    public int numPartitions() {
        return shards;
    }

    @Override
    public int getPartition(Object key) {
        return shardOf((Integer) key);
    }

    public int shardOf(int expert) {
        return (int) ((long) expert * shards / experts);
    }

    /** First expert of shard s (s may be {@code shards}: one past the last expert). */
    public int firstExpert(int shard) {
        // smallest e with e * shards / experts >= shard
        return (int) (((long) shard * experts + shards - 1) / shards);
    }

    public int experts() {
        return experts;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpertPartitioner p && p.experts == experts && p.shards == shards;
    }

    @Override
    public int hashCode() {
        return 31 * experts + shards;
    }
}
