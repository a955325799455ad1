package org.sparkmoe.core.recurrent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.LongFunction;

import org.junit.jupiter.api.Test;

/** Windows, padding, document starts, token ids and seeking of {@link DocumentStreams}. */
class DocumentStreamsTest {
    private static final int END = 9;
    /** Document k has k + 1 words 10k, 10k + 1, ... (ids beyond END are fine here: nothing checks the vocabulary). */
    private static final LongFunction<int[]> DOCS = k -> {
        int[] w = new int[(int) k + 1];
        for (int i = 0; i < w.length; i++) w[i] = (int) (10 * k + i);
        return w;
    };

    @Test
    void documentsBecomeWindowsOfPredictionsWithStatesCarriedWithinADocument() {
        DocumentStreams streams = new DocumentStreams(2, 4, DOCS, END, 0, 4, false);
        // window 1: stream 0 = doc 0 (1 word: 2 predictions, then padding), stream 1 = doc 1 (2 words: 3 predictions)
        SequenceBatch w1 = streams.next();
        assertArrayEquals(new int[] {END, END, 0, 10, END, 11, END, END}, w1.inputs());
        assertArrayEquals(new int[] {0, 10, END, 11, -1, END, -1, -1}, w1.targets());
        assertArrayEquals(new boolean[] {true, true}, w1.startsDocument());
        long doc1 = DocumentStreams.MAX_DOCUMENT;
        assertArrayEquals(new long[] {0, doc1, 1, doc1 + 1}, java.util.Arrays.copyOf(w1.tokenIds(), 4));
        long[] docs = streams.documents();
        int[] positions = streams.positions();
        // window 2: doc 2 (3 words, 4 predictions: exactly one window), doc 3 (4 words, 5 predictions: continues)
        SequenceBatch w2 = streams.next();
        assertArrayEquals(new int[] {END, END, 20, 30, 21, 31, 22, 32}, w2.inputs());
        assertArrayEquals(new int[] {20, 30, 21, 31, 22, 32, END, 33}, w2.targets());
        assertArrayEquals(new boolean[] {true, true}, w2.startsDocument());
        // window 3: stream 0 has no documents left (padding), stream 1 finishes doc 3 without a reset
        SequenceBatch w3 = streams.next();
        assertArrayEquals(new int[] {END, 33, END, END, END, END, END, END}, w3.inputs());
        assertArrayEquals(new int[] {-1, END, -1, -1, -1, -1, -1, -1}, w3.targets());
        assertArrayEquals(new boolean[] {false, false}, w3.startsDocument());
        assertFalse(streams.hasNext());

        DocumentStreams resumed = new DocumentStreams(2, 4, DOCS, END, 0, 4, false);
        resumed.seek(docs, positions);
        SequenceBatch again = resumed.next();
        assertArrayEquals(w2.inputs(), again.inputs());
        assertArrayEquals(w2.tokenIds(), again.tokenIds());
    }

    @Test
    void cyclingStreamsStartOverAndNeverEnd() {
        DocumentStreams streams = new DocumentStreams(2, 8, DOCS, END, 0, 2, true);
        for (int i = 0; i < 5; i++) {
            assertTrue(streams.hasNext());
            SequenceBatch w = streams.next();
            assertArrayEquals(new boolean[] {true, true}, w.startsDocument());
            assertTrue(w.targetCount() == 2 + 3);
        }
    }

    @Test
    void someStreamsOfALayoutReadExactlyTheirSequencesOfTheWholeLayout() {
        java.util.function.LongFunction<int[]> docs = k -> {
            int[] w = new int[1 + (int) (k * 7 % 5)];
            for (int i = 0; i < w.length; i++) w[i] = (int) ((k * 3 + i) % END);
            return w;
        };
        DocumentStreams whole = new DocumentStreams(5, 3, docs, END, 2, 11, true);
        DocumentStreams low = new DocumentStreams(5, DocumentStreams.range(0, 2), 3, docs, END, 2, 11, true);
        DocumentStreams high = new DocumentStreams(5, DocumentStreams.range(2, 5), 3, docs, END, 2, 11, true);
        for (int i = 0; i < 12; i++) {
            SequenceBatch w = whole.next();
            assertSameWindow(w.selectSequences(0, 2), low.next());
            assertSameWindow(w.selectSequences(2, 3), high.next());
        }
    }

    private static void assertSameWindow(SequenceBatch expected, SequenceBatch actual) {
        assertArrayEquals(expected.inputs(), actual.inputs());
        assertArrayEquals(expected.targets(), actual.targets());
        assertArrayEquals(expected.tokenIds(), actual.tokenIds());
        assertArrayEquals(expected.startsDocument(), actual.startsDocument());
    }
}
