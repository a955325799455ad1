package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.SplittableRandom;

/**
 * Which rows of each data partition form the mini-batch of each step. Every step takes exactly
 * {@code batchSize} examples, spread over the partitions in proportion to their sizes (largest
 * remainder), and walks through the data in epochs: in each epoch a partition visits its rows in a
 * fresh permutation seeded by (seed, epoch, partition). A step's batch is a pure function of the
 * step number, so recomputing a lost partition, or resuming from a checkpoint, selects the same rows.
 */
public final class BatchPlan implements Serializable {
    private static final long serialVersionUID = 1L;

    private final long seed;
    private final int batchSize;
    private final long[] partitionSizes;
    private final int[] perStep;
    private final long stepsPerEpoch;

    public BatchPlan(long seed, int batchSize, long[] partitionSizes) {
        long total = 0;
        for (long s : partitionSizes) total += s;
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        if (total < batchSize) {
            throw new IllegalArgumentException("the training data has " + total + " examples, fewer than one batch of " + batchSize);
        }
        this.seed = seed;
        this.batchSize = batchSize;
        this.partitionSizes = partitionSizes.clone();
        this.perStep = new int[partitionSizes.length];
        double[] remainder = new double[partitionSizes.length];
        int assigned = 0;
        for (int p = 0; p < perStep.length; p++) {
            double exact = (double) batchSize * partitionSizes[p] / total;
            perStep[p] = (int) Math.floor(exact);
            remainder[p] = exact - perStep[p];
            assigned += perStep[p];
        }
        while (assigned < batchSize) {  // largest remainder, lowest partition first on ties
            int best = -1;
            for (int p = 0; p < perStep.length; p++) {
                if (perStep[p] < partitionSizes[p] && (best < 0 || remainder[p] > remainder[best])) best = p;
            }
            perStep[best]++;
            remainder[best] = -1;
            assigned++;
        }
        this.stepsPerEpoch = Math.max(1, total / batchSize);
    }

    public int batchSize() {
        return batchSize;
    }

    public long stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Epoch (0-based) of the 1-based step. */
    public long epoch(long step) {
        return (step - 1) / stepsPerEpoch;
    }

    /** Examples partition p contributes to every step. */
    public int rowsPerStep(int partition) {
        return perStep[partition];
    }

    /**
     * Writes the (partition-local) row indices partition p contributes to {@code step} into
     * {@code out[0, rowsPerStep(p))}, in a fixed order.
     */
    public void rows(int partition, long step, int[] out) {
        int n = (int) partitionSizes[partition];
        int b = perStep[partition];
        if (b == 0) return;
        long epoch = epoch(step);
        long i = (step - 1) % stepsPerEpoch;
        int[] perm = permutation(partition, epoch, n);
        for (int r = 0; r < b; r++) out[r] = perm[(int) ((i * b + r) % n)];
    }

    private int[] permutation(int partition, long epoch, int n) {
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ (epoch * 0xBF58476D1CE4E5B9L + partition));
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        return perm;
    }
}
