package org.sparkmoe.engine;

import org.apache.spark.Partitioner;

/** Routes blocks keyed by data partition index back to that partition. */
public final class DataPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;

    private final int partitions;

    public DataPartitioner(int partitions) {
        this.partitions = partitions;
    }

    @Override
    public int numPartitions() {
        return partitions;
    }

    @Override
    public int getPartition(Object key) {
        return (Integer) key;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DataPartitioner p && p.partitions == partitions;
    }

    @Override
    public int hashCode() {
        return partitions;
    }
}
