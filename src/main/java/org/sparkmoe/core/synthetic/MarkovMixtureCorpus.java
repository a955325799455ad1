package org.sparkmoe.core.synthetic;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The built-in text corpus (no download): a mixture of D "domains", each a first-order Markov chain
 * over one shared vocabulary of V pronounceable generated words ({@link #word(int)}: "ba", "be", ...,
 * "baba", ...). In domain d the successor of word w is, with probability {@code 1 - smoothing}, one
 * of {@code successors} words drawn for (d, w) with random weights, and with probability
 * {@code smoothing} any word uniformly; domains draw their successors independently, so their
 * transition tables differ almost everywhere and an expert can specialise on one.
 * <p>
 * Document i is addressable on its own ({@link #document(long)}): its domain (by the mixture
 * weights), its length (geometric, mean {@code meanLength}, at least 1 word), its first word (from
 * the domain's stationary distribution, so the chain is stationary throughout) and its words all
 * come from a random stream seeded by (seed, i). A distributed job can therefore generate document
 * i on any machine, with no list of documents anywhere.
 * <p>
 * Computable truth: {@link #entropyRateNats()} is H(next word | previous word, domain), averaged over
 * each chain's stationary distribution and the domain weights: the best per-word loss any model
 * can reach when it knows the domain. A model that sees only the c previous tokens may not be able
 * to identify the domain, so this is a lower bound, not necessarily reachable.
 * {@link #exampleFloorNats()} is the same for the examples a language-model job makes of the
 * documents (first word after padding, every next word, then the end-of-document token).
 */
public final class MarkovMixtureCorpus implements Serializable {
    private static final long serialVersionUID = 1L;

    private static final String CONSONANTS = "bdfgklmnprstvz";
    private static final String VOWELS = "aeiou";
    private static final int SYLLABLES = CONSONANTS.length() * VOWELS.length();

    private final int vocabulary, domains, successors;
    private final double smoothing, meanLength;
    private final long seed;
    private final double[] domainWeights, domainCdf;
    /** [domain][word * successors + j]: the successor word ids and their probabilities (sum 1 per word). */
    private final int[][] next;
    private final double[][] nextProb;
    private final double[][] stationary, stationaryCdf;

    /** One generated document. */
    public record Document(long index, int domain, String text) {
    }

    /**
     * @param vocabulary    V words, at least 2
     * @param domains       D domains, at least 1
     * @param successors    likely successors per word and domain, in [1, V]
     * @param smoothing     probability of a uniformly drawn next word instead, in (0, 1]
     * @param meanLength    mean document length in words, at least 1
     * @param domainWeights mixture weights of the domains (normalised here); null for uniform
     * @param seed          everything derives from it
     */
    public MarkovMixtureCorpus(int vocabulary, int domains, int successors, double smoothing, double meanLength,
                               double[] domainWeights, long seed) {
        if (vocabulary < 2) throw new IllegalArgumentException("vocabulary must be at least 2, got " + vocabulary);
        if (domains < 1) throw new IllegalArgumentException("domains must be at least 1, got " + domains);
        if (successors < 1 || successors > vocabulary) {
            throw new IllegalArgumentException("successors must be in [1, vocabulary = " + vocabulary + "], got " + successors);
        }
        if (!(smoothing > 0 && smoothing <= 1)) {
            throw new IllegalArgumentException("smoothing must be in (0, 1] (it keeps every chain ergodic), got " + smoothing);
        }
        if (!(meanLength >= 1) || Double.isInfinite(meanLength)) {
            throw new IllegalArgumentException("meanLength must be finite and at least 1, got " + meanLength);
        }
        if (domainWeights != null && domainWeights.length != domains) {
            throw new IllegalArgumentException("domainWeights has " + domainWeights.length + " entries for " + domains + " domains");
        }
        this.vocabulary = vocabulary;
        this.domains = domains;
        this.successors = successors;
        this.smoothing = smoothing;
        this.meanLength = meanLength;
        this.seed = seed;
        this.domainWeights = new double[domains];
        double total = 0;
        for (int d = 0; d < domains; d++) {
            double w = domainWeights == null ? 1 : domainWeights[d];
            if (!(w >= 0) || Double.isInfinite(w)) throw new IllegalArgumentException("domainWeights[" + d + "] must be finite and >= 0, got " + w);
            this.domainWeights[d] = w;
            total += w;
        }
        if (!(total > 0)) throw new IllegalArgumentException("domainWeights must not all be 0");
        for (int d = 0; d < domains; d++) this.domainWeights[d] /= total;
        this.domainCdf = cdf(this.domainWeights);

        SplittableRandom r = new SplittableRandom(seed);
        next = new int[domains][vocabulary * successors];
        nextProb = new double[domains][vocabulary * successors];
        int[] perm = new int[vocabulary];
        for (int d = 0; d < domains; d++) {
            for (int w = 0; w < vocabulary; w++) {
                // `successors` distinct words by a partial Fisher-Yates shuffle; weights ~ Exp(1)^2, which
                // makes one or two successors dominant (a peaked, low-entropy row)
                for (int i = 0; i < vocabulary; i++) perm[i] = i;
                double sum = 0;
                for (int j = 0; j < successors; j++) {
                    int k = j + r.nextInt(vocabulary - j);
                    int t = perm[j];
                    perm[j] = perm[k];
                    perm[k] = t;
                    double e = -Math.log(1 - r.nextDouble());
                    nextProb[d][w * successors + j] = e * e + 1e-3;
                    next[d][w * successors + j] = perm[j];
                    sum += e * e + 1e-3;
                }
                for (int j = 0; j < successors; j++) nextProb[d][w * successors + j] /= sum;
            }
        }
        stationary = new double[domains][];
        stationaryCdf = new double[domains][];
        for (int d = 0; d < domains; d++) {
            stationary[d] = stationaryOf(d);
            stationaryCdf[d] = cdf(stationary[d]);
        }
    }

    /** The default corpus: 1000 words, 4 equally likely domains, 4 successors per word, 2% smoothing, mean 64 words. */
    public static MarkovMixtureCorpus defaults(long seed) {
        return new MarkovMixtureCorpus(1000, 4, 4, 0.02, 64, null, seed);
    }

    public int vocabularySize() {
        return vocabulary;
    }

    public int domains() {
        return domains;
    }

    public double meanLength() {
        return meanLength;
    }

    public long seed() {
        return seed;
    }

    /** The normalised mixture weight of each domain (a copy). */
    public double[] domainWeights() {
        return domainWeights.clone();
    }

    /** Word {@code i}: a deterministic pronounceable string of lower-case letters, distinct for distinct i. */
    public String word(int i) {
        if (i < 0 || i >= vocabulary) throw new IndexOutOfBoundsException("word " + i + " of a vocabulary of " + vocabulary);
        return wordOf(i);
    }

    /** Bijective base-70 numeral of i over consonant-vowel syllables: unique for every i >= 0. */
    static String wordOf(long i) {
        StringBuilder sb = new StringBuilder();
        long n = i + 1;
        while (n > 0) {
            n--;
            int s = (int) (n % SYLLABLES);
            sb.append(CONSONANTS.charAt(s / VOWELS.length())).append(VOWELS.charAt(s % VOWELS.length()));
            n /= SYLLABLES;
        }
        return sb.toString();
    }

    /** P(next = to | previous = from, domain). */
    public double transitionProbability(int domain, int from, int to) {
        double p = smoothing / vocabulary;
        int o = from * successors;
        for (int j = 0; j < successors; j++) {
            if (next[domain][o + j] == to) p += (1 - smoothing) * nextProb[domain][o + j];
        }
        return p;
    }

    /** The full row P(. | previous = from, domain) as V probabilities. */
    public double[] transitionRow(int domain, int from) {
        double[] row = new double[vocabulary];
        Arrays.fill(row, smoothing / vocabulary);
        int o = from * successors;
        for (int j = 0; j < successors; j++) row[next[domain][o + j]] += (1 - smoothing) * nextProb[domain][o + j];
        return row;
    }

    /** The stationary distribution of a domain's chain (a copy). */
    public double[] stationary(int domain) {
        return stationary[domain].clone();
    }

    /** H(next | previous, domain = d) under the stationary distribution of d, in nats. */
    public double entropyRateNats(int domain) {
        double h = 0;
        double rest = smoothing / vocabulary;
        for (int w = 0; w < vocabulary; w++) {
            double hw = (vocabulary - successors) * -rest * Math.log(rest);
            int o = w * successors;
            for (int j = 0; j < successors; j++) {
                double p = rest + (1 - smoothing) * nextProb[domain][o + j];
                hw -= p * Math.log(p);
            }
            h += stationary[domain][w] * hw;
        }
        return h;
    }

    /**
     * H(next word | previous word, domain) in nats per word, averaged over the domains by their
     * weights: the best per-word loss reachable by a model that knows the domain. A model seeing
     * only the c previous tokens may not identify the domain, so it is a lower bound.
     */
    public double entropyRateNats() {
        double h = 0;
        for (int d = 0; d < domains; d++) h += domainWeights[d] * entropyRateNats(d);
        return h;
    }

    /** exp({@link #entropyRateNats()}): the per-word perplexity floor (a lower bound, see there). */
    public double perplexityFloor() {
        return Math.exp(entropyRateNats());
    }

    /**
     * The best mean loss per language-model example (nats) for a model that knows the domain, where
     * a document of n words gives n + 1 examples: its first word (predicted from padding: entropy
     * of the stationary distribution), n - 1 transitions, and the end token; with geometric lengths
     * (stop probability q = 1 / meanLength after every word) the stop/continue decision costs the
     * binary entropy H(q) at each of the n decisions. The ratio of expected totals: the limit of the
     * mean over many documents. A lower bound in the same sense as {@link #entropyRateNats()}.
     */
    public double exampleFloorNats() {
        double q = 1 / meanLength;
        double hq = q >= 1 ? 0 : -q * Math.log(q) - (1 - q) * Math.log(1 - q);
        double first = 0;
        for (int d = 0; d < domains; d++) {
            double hs = 0;
            for (double p : stationary[d]) if (p > 0) hs -= p * Math.log(p);
            first += domainWeights[d] * hs;
        }
        return (first + meanLength * hq + (meanLength - 1) * entropyRateNats()) / (meanLength + 1);
    }

    /** Document {@code index} (>= 0): the same on every machine and every call. */
    public Document document(long index) {
        if (index < 0) throw new IllegalArgumentException("document index must be >= 0, got " + index);
        SplittableRandom r = new SplittableRandom(mix(seed, index));
        int d = sample(domainCdf, r.nextDouble());
        double q = 1 / meanLength;
        // geometric on {1, 2, ...} with mean meanLength, by inversion
        long n = q >= 1 ? 1 : 1 + (long) Math.floor(Math.log(1 - r.nextDouble()) / Math.log(1 - q));
        int len = (int) Math.min(n, 1 << 24);
        StringBuilder sb = new StringBuilder(len * 5);
        int w = sample(stationaryCdf[d], r.nextDouble());
        sb.append(wordOf(w));
        for (int t = 1; t < len; t++) {
            w = step(d, w, r);
            sb.append(' ').append(wordOf(w));
        }
        return new Document(index, d, sb.toString());
    }

    /** Documents {@code from, from+1, ..., from+count-1}. */
    public List<Document> documents(long from, int count) {
        List<Document> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) out.add(document(from + i));
        return out;
    }

    /** {@code length} word ids of one long run of domain {@code domain}'s chain (for checks), started from its stationary distribution. */
    public int[] walk(int domain, int length, long walkSeed) {
        SplittableRandom r = new SplittableRandom(mix(seed ^ 0x5DEECE66DL, walkSeed));
        int[] out = new int[length];
        if (length == 0) return out;
        out[0] = sample(stationaryCdf[domain], r.nextDouble());
        for (int t = 1; t < length; t++) out[t] = step(domain, out[t - 1], r);
        return out;
    }

    private int step(int d, int w, SplittableRandom r) {
        if (r.nextDouble() < smoothing) return r.nextInt(vocabulary);
        double u = r.nextDouble();
        int o = w * successors;
        double c = 0;
        for (int j = 0; j < successors - 1; j++) {
            c += nextProb[d][o + j];
            if (u < c) return next[d][o + j];
        }
        return next[d][o + successors - 1];
    }

    private double[] stationaryOf(int d) {
        double[] pi = new double[vocabulary];
        Arrays.fill(pi, 1.0 / vocabulary);
        double[] nxt = new double[vocabulary];
        // power iteration: contracts by at least (1 - smoothing) per step
        for (int it = 0; it < 100_000; it++) {
            Arrays.fill(nxt, smoothing / vocabulary);
            for (int w = 0; w < vocabulary; w++) {
                double m = (1 - smoothing) * pi[w];
                int o = w * successors;
                for (int j = 0; j < successors; j++) nxt[next[d][o + j]] += m * nextProb[d][o + j];
            }
            double diff = 0, sum = 0;
            for (int w = 0; w < vocabulary; w++) {
                diff += Math.abs(nxt[w] - pi[w]);
                sum += nxt[w];
            }
            for (int w = 0; w < vocabulary; w++) pi[w] = nxt[w] / sum;
            if (diff < 1e-13) break;
        }
        return pi;
    }

    private static double[] cdf(double[] p) {
        double[] c = new double[p.length];
        double s = 0;
        for (int i = 0; i < p.length; i++) {
            s += p[i];
            c[i] = s;
        }
        for (int i = 0; i < c.length; i++) c[i] /= s;
        c[c.length - 1] = 1.0;
        return c;
    }

    private static int sample(double[] cdf, double u) {
        int i = Arrays.binarySearch(cdf, u);
        if (i < 0) i = -i - 1;
        else i = i + 1; // u == cdf[i]: P(X <= i) = u, so X > i
        while (i < cdf.length - 1 && cdf[i] <= u) i++;
        return Math.min(i, cdf.length - 1);
    }

    private static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
