package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.List;

import org.sparkmoe.core.param.Parameters;

/**
 * The fixed order in which a step sums its P data partitions' aggregation records (local routing with
 * driver-held experts, and shuffle routing's last stage): a binary tree over the partition indices, sum[lo, hi) = sum[lo, mid) +
 * sum[mid, hi) with mid = (lo + hi) / 2. The step's tasks each run one group of data partitions, a
 * node of this tree at depth j ({@link #groups()}: 2^j of them, the largest power of two not above
 * min(P, cores)), and sum their partitions up to it; the driver sums the groups' records up to the
 * root. Every float is added in the same order whatever the depth, so a step's result depends on P
 * and not on how many cores ran it (a resume on another cluster, an executor lost), and the sum of
 * the expert gradients leaves each task once instead of once per data partition.
 */
final class ReductionTree implements Serializable {
    private static final long serialVersionUID = 1L;

    private final int partitions;
    /** n: a record's expert counts hold n per data partition it covers. */
    private final int experts;
    /** Group g holds data partitions starts[g] until starts[g + 1]; starts[G] = P. */
    private final int[] starts;

    private ReductionTree(int partitions, int experts, int[] starts) {
        this.partitions = partitions;
        this.experts = experts;
        this.starts = starts;
    }

    /** The tree over {@code partitions} data partitions of a network of {@code experts} experts, grouped for {@code slots} concurrent tasks. */
    static ReductionTree of(int partitions, int experts, int slots) {
        int groups = Integer.highestOneBit(Math.max(1, Math.min(partitions, slots)));
        int[] starts = new int[groups + 1];
        int depth = Integer.numberOfTrailingZeros(groups);
        fill(starts, new int[]{0}, 0, partitions, depth);
        starts[groups] = partitions;
        return new ReductionTree(partitions, experts, starts);
    }

    private static void fill(int[] starts, int[] at, int lo, int hi, int depth) {
        if (depth == 0) {
            starts[at[0]++] = lo;
            return;
        }
        int mid = (lo + hi) >>> 1;
        fill(starts, at, lo, mid, depth - 1);
        fill(starts, at, mid, hi, depth - 1);
    }

    int partitions() {
        return partitions;
    }

    int groups() {
        return starts.length - 1;
    }

    /** Where each group starts (and, last, P): the groups' data partitions for {@link DataGroups}. */
    int[] starts() {
        return starts.clone();
    }

    /** The group that runs data partition {@code partition}. */
    int groupOf(int partition) {
        for (int g = 0; g + 1 < starts.length; g++) if (partition < starts[g + 1]) return g;
        throw new IllegalStateException("data partition " + partition + " is in no group");
    }

    /** The records of group g's data partitions (in any order) summed up to the group's node. */
    PartitionResult sumGroup(int group, List<PartitionResult> records) {
        return sum(records, starts[group], starts[group + 1]);
    }

    /** The groups' records (in any order) summed up to the root. */
    PartitionResult sumGroups(List<PartitionResult> records) {
        return sum(records, 0, partitions);
    }

    /**
     * Records covering [lo, hi) exactly, each a node of the tree (a record's {@code partition} is its
     * first data partition, {@link #end} its last plus one), summed to the node [lo, hi).
     */
    private PartitionResult sum(List<PartitionResult> records, int lo, int hi) {
        PartitionResult[] byFirst = new PartitionResult[partitions];
        for (PartitionResult r : records) {
            if (r.partition() < lo || r.partition() >= hi || byFirst[r.partition()] != null) {
                throw new IllegalStateException("unexpected aggregation record for partition " + r.partition() + " in [" + lo + ", " + hi + ")");
            }
            byFirst[r.partition()] = r;
        }
        return node(byFirst, lo, hi);
    }

    private PartitionResult node(PartitionResult[] byFirst, int lo, int hi) {
        PartitionResult r = byFirst[lo];
        if (r != null && end(r) == hi) return r;
        if (hi - lo <= 1) throw new IllegalStateException("no aggregation record for partitions [" + lo + ", " + hi + ")");
        int mid = (lo + hi) >>> 1;
        return add(node(byFirst, lo, mid), node(byFirst, mid, hi));
    }

    /** One past the last data partition a record covers. */
    private int end(PartitionResult r) {
        return r.partition() + r.expertCounts().length / experts;
    }

    /**
     * {@code b} added into {@code a} (the left node; its gradient buffers are overwritten, they are
     * the step's own), {@code a + b} in every float; the per-partition expert counts concatenated.
     */
    private static PartitionResult add(PartitionResult a, PartitionResult b) {
        a.sharedGrad().flat().axpy(1, b.sharedGrad().flat());
        Parameters[] eg = a.expertGrads();
        // null with shuffle routing: the expert gradients stay on their shards
        for (int e = 0; eg != null && e < eg.length; e++) {
            Parameters g = b.expertGrads()[e];
            if (g == null) continue;
            if (eg[e] == null) eg[e] = g;
            else eg[e].flat().axpy(1, g.flat());
        }
        double[] stats = a.stats().clone();
        for (int i = 0; i < stats.length; i++) stats[i] += b.stats()[i];
        int[] counts = java.util.Arrays.copyOf(a.expertCounts(), a.expertCounts().length + b.expertCounts().length);
        System.arraycopy(b.expertCounts(), 0, counts, a.expertCounts().length, b.expertCounts().length);
        return new PartitionResult(a.partition(), a.sharedGrad(), a.lossSum() + b.lossSum(), a.examples() + b.examples(),
                a.weightSum() + b.weightSum(), stats, counts, a.expertSumOfSquares() + b.expertSumOfSquares(), eg);
    }
}
