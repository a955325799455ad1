package org.sparkmoe.engine.sequence;

import org.apache.spark.Partitioner;

/** Sends document k (a Long key) to the data partition whose stream reads it ({@link SequenceLayout#partitionOf}). */
final class StreamPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final SequenceLayout layout;

    StreamPartitioner(SequenceLayout layout) {
        this.layout = layout;
    }

    @Override
    public int numPartitions() {
        return layout.partitions();
    }

    @Override
    public int getPartition(Object key) {
        return layout.partitionOf((Long) key);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamPartitioner sp && sp.layout.equals(layout);
    }

    @Override
    public int hashCode() {
        return layout.hashCode();
    }
}
