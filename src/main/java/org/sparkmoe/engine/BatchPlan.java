package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.SplittableRandom;

/**
 * Which rows of each data partition form the mini-batch of each step. Every step takes exactly
 * {@code batchSize} examples, spread over the partitions in proportion to their sizes (largest
 * remainder), and walks through the data in epochs: in each epoch a partition visits its rows in a
 * fresh permutation seeded by (seed, epoch, partition). A step's batch is a pure function of the
 * step number, so recomputing a lost partition, or resuming from a checkpoint, selects the same rows.
 *
 * <p>A batch size of {@value #DATA_SIZED} asks for the data-sized batch ({@link #dataSized}), resolved
 * here from the partition sizes the engine counts anyway, so that no extra Spark job counts the data.
 */
public final class BatchPlan implements Serializable {
    private static final long serialVersionUID = 1L;

    private final long seed;
    private final int batchSize;
    private final long[] partitionSizes;
    private final int[] perStep;
    private final long stepsPerEpoch;

    /** The batch size that asks for {@link #dataSized}: the examples / {@value #EPOCH_STEPS}, a multiple of 512 in [512, {@value #MAX_DATA_SIZED}]. */
    public static final int DATA_SIZED = 0;
    /** The largest data-sized batch (issue 9: the paper's big batches; BENCHMARKS.md sizes executors for it). */
    public static final int MAX_DATA_SIZED = 16384;
    /** The fewest steps an epoch a data-sized batch leaves. */
    public static final int EPOCH_STEPS = 64;

    /**
     * The data-sized batch for {@code examples} training examples: examples / {@value #EPOCH_STEPS}
     * rounded down to a multiple of 512, between 512 and {@value #MAX_DATA_SIZED}. Big batches
     * amortise a step's fixed cost and feed each expert more rows (paper section 3.1); the floor keeps
     * at least {@value #EPOCH_STEPS} steps an epoch where the data is small. A function of the data,
     * so a resumed run takes the same.
     */
    public static int dataSized(long examples) {
        long b = examples / EPOCH_STEPS / 512 * 512;
        return (int) Math.max(512, Math.min(MAX_DATA_SIZED, b));
    }

    /** @param batchSize examples per step, or {@value #DATA_SIZED} for {@link #dataSized} of the partitions' total */
    public BatchPlan(long seed, int batchSize, long[] partitionSizes) {
        long total = 0;
        for (long s : partitionSizes) total += s;
        if (batchSize < 0) throw new IllegalArgumentException("batch size must be positive (or 0: data-sized), got " + batchSize);
        boolean sized = batchSize == DATA_SIZED;
        if (sized) batchSize = dataSized(total);
        if (total < batchSize) {
            throw new IllegalArgumentException("the training data has " + total + " examples, fewer than one batch of " + batchSize
                    + (sized ? " (the data-sized batch's minimum)" : ""));
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

    /** The training examples over all partitions. */
    public long examples() {
        long total = 0;
        for (long s : partitionSizes) total += s;
        return total;
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
