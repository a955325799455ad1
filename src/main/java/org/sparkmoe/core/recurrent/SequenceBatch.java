package org.sparkmoe.core.recurrent;

/**
 * One window of T timesteps of S token sequences in compact, time-major form (row
 * {@code t*S + s} is timestep t of sequence s; never an object per token): the input token, the
 * target (the next token; -1 for padding after a document's end, which gets no loss), and a global
 * token id per row, which keys the gate noise and the dropout masks so that they do not depend on
 * partitioning. {@code startsDocument[s]} says that sequence s begins a new document in this
 * window: its carried LSTM state is zeroed before the window (state is carried across windows of
 * the same document only).
 */
public final class SequenceBatch {
    private final int sequences;
    private final int steps;
    private final int[] inputs;
    private final int[] targets;
    private final long[] tokenIds;
    private final boolean[] startsDocument;

    public SequenceBatch(int sequences, int steps, int[] inputs, int[] targets, long[] tokenIds, boolean[] startsDocument) {
        if (sequences <= 0 || steps <= 0) {
            throw new IllegalArgumentException("a window needs S >= 1 sequences and T >= 1 steps, got S=" + sequences + ", T=" + steps);
        }
        int m = Math.multiplyExact(sequences, steps);
        if (inputs.length < m || targets.length < m || tokenIds.length < m) {
            throw new IllegalArgumentException("inputs/targets/tokenIds need " + m + " entries (T=" + steps + " x S=" + sequences
                    + "), got " + inputs.length + "/" + targets.length + "/" + tokenIds.length);
        }
        if (startsDocument.length < sequences) {
            throw new IllegalArgumentException("startsDocument has " + startsDocument.length + " entries for " + sequences + " sequences");
        }
        this.sequences = sequences;
        this.steps = steps;
        this.inputs = inputs;
        this.targets = targets;
        this.tokenIds = tokenIds;
        this.startsDocument = startsDocument;
    }

    /** S. */
    public int sequences() {
        return sequences;
    }

    /** T. */
    public int steps() {
        return steps;
    }

    /** S*T: the rows of the window, and the MoE batch of one step (section 3.1). */
    public int rows() {
        return sequences * steps;
    }

    /** Input token ids, time-major. */
    public int[] inputs() {
        return inputs;
    }

    /** Next-token ids, time-major; -1 marks padding. */
    public int[] targets() {
        return targets;
    }

    /** Global token ids, time-major. */
    public long[] tokenIds() {
        return tokenIds;
    }

    public boolean[] startsDocument() {
        return startsDocument;
    }

    /**
     * Sequences {@code [from, from + count)} of this window as a window of their own (copies): what a
     * data partition holding those sequences feeds its part of a step.
     */
    public SequenceBatch selectSequences(int from, int count) {
        if (from < 0 || count <= 0 || from + count > sequences) {
            throw new IllegalArgumentException("sequences [" + from + ", " + (from + count) + ") of a window of " + sequences);
        }
        int m = count * steps;
        int[] in = new int[m], tg = new int[m];
        long[] ids = new long[m];
        for (int t = 0; t < steps; t++) {
            System.arraycopy(inputs, t * sequences + from, in, t * count, count);
            System.arraycopy(targets, t * sequences + from, tg, t * count, count);
            System.arraycopy(tokenIds, t * sequences + from, ids, t * count, count);
        }
        return new SequenceBatch(count, steps, in, tg, ids, java.util.Arrays.copyOfRange(startsDocument, from, from + count));
    }

    /** Rows with a target: the tokens the loss is averaged over. */
    public int targetCount() {
        int n = 0;
        for (int i = 0, m = rows(); i < m; i++) if (targets[i] >= 0) n++;
        return n;
    }
}
