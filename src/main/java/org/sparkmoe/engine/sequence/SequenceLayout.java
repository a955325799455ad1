package org.sparkmoe.engine.sequence;

import java.io.Serializable;

import org.sparkmoe.core.recurrent.DocumentStreams;

/**
 * How a training run reads its documents: S streams of T-token windows over documents
 * {@code [first, first + count)}, stream s reading documents {@code first + s, first + s + S, ...}
 * and starting again when its share is done (as {@link DocumentStreams} with cycling), split over P
 * data partitions: partition p holds streams {@code [S*p/P, S*(p+1)/P)} and the documents they read.
 *
 * @param sequences  S, sequences per step (all partitions together)
 * @param steps      T, tokens per window
 * @param endToken   the end-of-document id (the first input of every document)
 * @param first      the first document index
 * @param count      the number of training documents
 * @param partitions P, data partitions (at most S)
 */
public record SequenceLayout(int sequences, int steps, int endToken, long first, long count, int partitions) implements Serializable {
    public SequenceLayout {
        if (sequences <= 0 || steps <= 0) throw new IllegalArgumentException("need S >= 1 and T >= 1, got S=" + sequences + ", T=" + steps);
        if (partitions <= 0 || partitions > sequences) {
            throw new IllegalArgumentException("data partitions must be in [1, S = " + sequences + "] (each holds whole sequences), got " + partitions);
        }
        if (count < sequences) throw new IllegalArgumentException(count + " training documents cannot feed S = " + sequences + " sequences");
    }

    /** The first stream of partition p. */
    public int firstStream(int p) {
        return (int) ((long) sequences * p / partitions);
    }

    /** The streams partition p holds. */
    public int[] streams(int p) {
        return DocumentStreams.range(firstStream(p), firstStream(p + 1));
    }

    /** The partition holding the stream that reads document k. */
    public int partitionOf(long document) {
        int s = (int) Math.floorMod(document - first, (long) sequences);
        int p = (int) ((long) s * partitions / sequences);
        while (firstStream(p + 1) <= s) p++;
        while (firstStream(p) > s) p--;
        return p;
    }
}
