package org.sparkmoe.core.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

class MarkovMixtureCorpusTest {
    private final MarkovMixtureCorpus corpus = new MarkovMixtureCorpus(200, 3, 4, 0.05, 20, new double[] {1, 2, 1}, 7);

    @Test
    void generationIsDeterministicAndIndexAddressable() {
        MarkovMixtureCorpus again = new MarkovMixtureCorpus(200, 3, 4, 0.05, 20, new double[] {1, 2, 1}, 7);
        for (long i : new long[] {0, 1, 17, 123_456_789_012L}) {
            assertEquals(corpus.document(i), again.document(i));
        }
        assertEquals(corpus.documents(5, 3).get(1), corpus.document(6));
        MarkovMixtureCorpus other = new MarkovMixtureCorpus(200, 3, 4, 0.05, 20, new double[] {1, 2, 1}, 8);
        assertNotEquals(corpus.document(3).text(), other.document(3).text());
        // words are known vocabulary words, separated by single spaces
        Set<String> words = new HashSet<>();
        for (int w = 0; w < corpus.vocabularySize(); w++) words.add(corpus.word(w));
        assertEquals(corpus.vocabularySize(), words.size(), "words are distinct");
        for (String w : corpus.document(2).text().split(" ")) assertTrue(words.contains(w), w);
    }

    @Test
    void wordsAreDistinctAcrossSyllableBoundaries() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 20_000; i++) assertTrue(seen.add(MarkovMixtureCorpus.wordOf(i)), "duplicate word at " + i);
        assertEquals("ba", MarkovMixtureCorpus.wordOf(0));
    }

    @Test
    void transitionRowsSumToOneAndStationaryIsStationary() {
        for (int d = 0; d < corpus.domains(); d++) {
            double[] pi = corpus.stationary(d);
            double[] next = new double[pi.length];
            for (int w = 0; w < corpus.vocabularySize(); w++) {
                double[] row = corpus.transitionRow(d, w);
                double s = 0;
                for (int v = 0; v < row.length; v++) {
                    s += row[v];
                    next[v] += pi[w] * row[v];
                }
                assertEquals(1.0, s, 1e-12, "row " + w + " of domain " + d);
                assertEquals(row[7], corpus.transitionProbability(d, w, 7), 1e-15);
            }
            for (int v = 0; v < pi.length; v++) assertEquals(pi[v], next[v], 1e-12);
        }
    }

    @Test
    void domainsDiffer() {
        int differ = 0;
        for (int w = 0; w < corpus.vocabularySize(); w++) {
            int a = argmax(corpus.transitionRow(0, w)), b = argmax(corpus.transitionRow(1, w));
            if (a != b) differ++;
        }
        assertTrue(differ > corpus.vocabularySize() * 0.9, "most likely successors differ for " + differ + " words");
    }

    @Test
    void entropyRateMatchesMonteCarlo() {
        double mc = 0;
        double[] weights = corpus.domainWeights();
        for (int d = 0; d < corpus.domains(); d++) {
            int[] walk = corpus.walk(d, 400_000, d);
            double s = 0;
            for (int t = 1; t < walk.length; t++) s -= Math.log(corpus.transitionProbability(d, walk[t - 1], walk[t]));
            double est = s / (walk.length - 1);
            assertEquals(corpus.entropyRateNats(d), est, 0.02, "domain " + d);
            mc += weights[d] * est;
        }
        assertEquals(corpus.entropyRateNats(), mc, 0.015);
        assertEquals(Math.exp(corpus.entropyRateNats()), corpus.perplexityFloor(), 1e-12);
        assertTrue(corpus.entropyRateNats() < Math.log(corpus.vocabularySize()) / 2, "peaked rows: " + corpus.entropyRateNats());
    }

    @Test
    void exampleFloorMatchesMonteCarloOverDocuments() {
        // an oracle knowing the domain: first word ~ stationary, then transitions with stop probability q
        Map<String, Integer> id = new HashMap<>();
        for (int w = 0; w < corpus.vocabularySize(); w++) id.put(corpus.word(w), w);
        double q = 1 / corpus.meanLength();
        double loss = 0;
        long examples = 0, words = 0;
        for (long i = 0; i < 20_000; i++) {
            MarkovMixtureCorpus.Document doc = corpus.document(i);
            String[] ws = doc.text().split(" ");
            words += ws.length;
            double[] pi = corpus.stationary(doc.domain());
            int prev = id.get(ws[0]);
            loss -= Math.log(pi[prev]);
            for (int t = 1; t < ws.length; t++) {
                int w = id.get(ws[t]);
                loss -= Math.log((1 - q) * corpus.transitionProbability(doc.domain(), prev, w));
                prev = w;
            }
            loss -= Math.log(q);
            examples += ws.length + 1;
        }
        assertEquals(corpus.meanLength(), (double) words / 20_000, 0.6);
        assertEquals(corpus.exampleFloorNats(), loss / examples, 0.03);
    }

    @Test
    void rejectsBadParameters() {
        assertThrows(IllegalArgumentException.class, () -> new MarkovMixtureCorpus(1, 1, 1, 0.1, 5, null, 0));
        assertThrows(IllegalArgumentException.class, () -> new MarkovMixtureCorpus(10, 2, 11, 0.1, 5, null, 0));
        assertThrows(IllegalArgumentException.class, () -> new MarkovMixtureCorpus(10, 2, 2, 0.0, 5, null, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new MarkovMixtureCorpus(10, 2, 2, 0.1, 5, new double[] {1}, 0));
        assertTrue(e.getMessage().contains("domainWeights"), e.getMessage());
    }

    @Test
    void defaultsAreUsable() {
        MarkovMixtureCorpus c = MarkovMixtureCorpus.defaults(1);
        assertEquals(1000, c.vocabularySize());
        assertTrue(c.perplexityFloor() > 1 && c.perplexityFloor() < 100, "floor " + c.perplexityFloor());
    }

    private static int argmax(double[] a) {
        int b = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
        return b;
    }
}
