package org.sparkmoe.core.recurrent;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongFunction;

import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;

/**
 * Cuts documents into the windows of truncated BPTT: S streams, stream s reading documents
 * {@code first + s, first + s + S, ...}. A document of n words is the n + 1 predictions
 * {@code [END w1 .. wn] -> [w1 .. wn END]} (its first word from the end token alone, then every next
 * word, then the end), consecutive windows of the same document continue its LSTM state, and a
 * document always starts a window ({@link SequenceBatch#startsDocument()}): the rest of the window
 * in which a document ends is padding (target -1). The global token id of position i of document k
 * is {@code k * 2^24 + i}, independent of S and of partitioning.
 *
 * <p>The position of each stream ({@link #documents()}, {@link #positions()}) is the data-side
 * state a checkpoint keeps beside the {@link RecurrentState}; {@link #seek} restores it.
 */
public final class DocumentStreams {
    /** Positions per document covered by a token id; longer documents are rejected. */
    public static final int MAX_DOCUMENT = 1 << 24;

    private final int sequences;
    /** S of the whole layout: stream i reads documents {@code first + streams[i] + j * stride}. */
    private final int stride;
    private final int[] streams;
    private final int steps;
    private final LongFunction<int[]> source;
    private final int endToken;
    private final long first;
    private final long count;
    private final boolean cycle;
    private final long[] doc;
    private final int[] pos;
    private final int[][] words;

    /**
     * @param sequences S
     * @param steps     T, tokens per window
     * @param source    the word ids of document k (without the end token)
     * @param endToken  the end-of-document id (also the first input of every document)
     * @param first     first document index
     * @param count     documents [first, first + count)
     * @param cycle     start again from the stream's first document when its share is done (epochs);
     *                  otherwise the stream pads until {@link #hasNext()} is false
     */
    public DocumentStreams(int sequences, int steps, LongFunction<int[]> source, int endToken, long first, long count, boolean cycle) {
        this(sequences, range(0, sequences), steps, source, endToken, first, count, cycle);
    }

    /**
     * Some of the streams of an S-stream layout: the streams {@code streams} (ascending, in
     * {@code [0, S)}) of {@code DocumentStreams(S, ...)}, in that order. What a data partition that
     * holds those sequences reads: its windows equal {@code selectSequences} of the whole layout's
     * (same tokens, targets, token ids and document starts), so partitioned training sees exactly
     * the windows of the single-JVM reference.
     *
     * @param layout  S, the number of streams of the whole layout
     * @param streams the stream indices this instance reads
     */
    public DocumentStreams(int layout, int[] streams, int steps, LongFunction<int[]> source, int endToken, long first, long count,
                           boolean cycle) {
        if (layout <= 0 || steps <= 0) throw new IllegalArgumentException("need S >= 1 and T >= 1, got S=" + layout + ", T=" + steps);
        if (count < layout) throw new IllegalArgumentException(count + " documents cannot feed " + layout + " streams");
        if (streams.length == 0) throw new IllegalArgumentException("no streams selected of " + layout);
        for (int i = 0; i < streams.length; i++) {
            if (streams[i] < 0 || streams[i] >= layout || (i > 0 && streams[i] <= streams[i - 1])) {
                throw new IllegalArgumentException("stream indices must ascend within [0, " + layout + "): " + Arrays.toString(streams));
            }
        }
        this.sequences = streams.length;
        this.stride = layout;
        this.streams = streams.clone();
        this.steps = steps;
        this.source = source;
        this.endToken = endToken;
        this.first = first;
        this.count = count;
        this.cycle = cycle;
        this.doc = new long[sequences];
        this.pos = new int[sequences];
        this.words = new int[sequences][];
        for (int s = 0; s < sequences; s++) doc[s] = first + this.streams[s];
    }

    /** {@code [from, to)}. */
    public static int[] range(int from, int to) {
        int[] r = new int[to - from];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }

    /** Word ids of the documents of a {@link MarkovMixtureCorpus}; the vocabulary is its V words, so END = V. */
    public static LongFunction<int[]> markov(MarkovMixtureCorpus corpus) {
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < corpus.vocabularySize(); i++) ids.put(corpus.word(i), i);
        return k -> {
            String[] w = corpus.document(k).text().split(" ");
            int[] out = new int[w.length];
            for (int i = 0; i < w.length; i++) out[i] = ids.get(w[i]);
            return out;
        };
    }

    /** False once every stream has read its last document (never when cycling). */
    public boolean hasNext() {
        for (int s = 0; s < sequences; s++) if (doc[s] >= 0) return true;
        return false;
    }

    /** The next window of all S streams. */
    public SequenceBatch next() {
        int m = sequences * steps;
        int[] in = new int[m], tg = new int[m];
        long[] ids = new long[m];
        boolean[] starts = new boolean[sequences];
        for (int s = 0; s < sequences; s++) {
            int[] w = words(s);
            starts[s] = w != null && pos[s] == 0;
            int len = w == null ? 0 : w.length + 1;
            for (int t = 0; t < steps; t++) {
                int row = t * sequences + s;
                int i = pos[s];
                if (i < len) {
                    in[row] = i == 0 ? endToken : w[i - 1];
                    tg[row] = i < w.length ? w[i] : endToken;
                    pos[s]++;
                } else {
                    in[row] = endToken;
                    tg[row] = -1;
                }
                ids[row] = w == null ? -1 : doc[s] * MAX_DOCUMENT + i + (i < len ? 0 : t);
            }
            if (w != null && pos[s] >= len) advance(s);
        }
        return new SequenceBatch(sequences, steps, in, tg, ids, starts);
    }

    private int[] words(int s) {
        if (doc[s] < 0) return null;
        if (words[s] == null) {
            int[] w = source.apply(doc[s]);
            if (w.length + 1 >= MAX_DOCUMENT) {
                throw new IllegalArgumentException("document " + doc[s] + " has " + w.length + " words, more than " + (MAX_DOCUMENT - 2));
            }
            words[s] = w;
        }
        return words[s];
    }

    private void advance(int s) {
        words[s] = null;
        pos[s] = 0;
        long next = doc[s] + stride;
        doc[s] = next < first + count ? next : cycle ? first + streams[s] : -1;
    }

    /** The document each stream is in (-1: finished). */
    public long[] documents() {
        return doc.clone();
    }

    /** The next position of each stream within its document. */
    public int[] positions() {
        return pos.clone();
    }

    /** Restores stream positions saved from {@link #documents()} and {@link #positions()}. */
    public void seek(long[] documents, int[] positions) {
        if (documents.length != sequences || positions.length != sequences) {
            throw new IllegalArgumentException("positions for " + documents.length + " streams, this has " + sequences);
        }
        System.arraycopy(documents, 0, doc, 0, sequences);
        System.arraycopy(positions, 0, pos, 0, sequences);
        Arrays.fill(words, null);
    }
}
