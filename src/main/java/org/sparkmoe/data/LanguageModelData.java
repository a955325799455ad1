package org.sparkmoe.data;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.NoSuchElementException;
import java.util.function.ToIntFunction;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.network.RowBlock;

import scala.Tuple2;

/**
 * Turns {@code (documentId, text)} documents into language-model examples for the engine: for a
 * document of tokens t_0..t_{n-1} (ids by the {@link Vocabulary}; unknown words are
 * {@link Vocabulary#UNK_ID}) and context c, the sequence {@code <eos>^c t_0 .. t_{n-1} <eos>} gives
 * n + 1 examples, example j having the context {@code seq[j .. j+c-1]} (oldest first: position
 * c - 1 is the token just before the target) and the target {@code seq[j+c]}; the last example
 * predicts {@code <eos>}. Documents without tokens give no examples. Examples are packed, in
 * document order, into {@link RowBlock}s of up to {@code blockSize} rows per partition.
 * <p>
 * <b>Example ids</b> are the position of the example in the whole input, counting every example
 * of every document (both sides of the split) partition by partition: a dense range
 * [0, {@link Examples#totalExamples()}) with no duplicates. A counting pass over the documents
 * ({@link #examples}) fixes each partition's offset. They are deterministic as long as the document
 * RDD is: same files, same partitioning (same minPartitions and split sizes), same order (true of
 * {@link TextSource} and {@link #synthetic}). Train and held-out examples of one {@link Examples}
 * share the id space, so their ids never collide.
 * <p>
 * <b>Held-out split</b>: a document is held out when a 64-bit hash of (seed, document id) falls
 * below {@code fraction}: the same documents on every run, whatever the partitioning.
 */
public final class LanguageModelData implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Default rows per block. */
    public static final int DEFAULT_BLOCK_SIZE = 4096;

    /**
     * A file is not text when more than this fraction of its characters are unreadable: invalid
     * UTF-8 (decoded as U+FFFD) or control characters other than tab, newline, carriage return and
     * form feed. Random bytes and compressed data score about 0.6, UTF-16 text 0.5; Latin-1 prose
     * read as UTF-8 a few percent (accent-dense French about 0.13), and is accepted.
     */
    public static final double MAX_UNREADABLE_FRACTION = 0.25;
    /** Fewer unreadable characters than this never reject a file (a short file with a stray byte). */
    static final long MIN_UNREADABLE_CHARS = 64;
    /**
     * Above this out-of-vocabulary rate a part's perplexity mostly measures how well {@code <unk>}
     * is predicted; {@link Examples#outOfVocabularyWarning} says so.
     */
    public static final double OOV_WARNING_RATE = 0.25;

    /** Which documents' examples. */
    public enum Part {
        /** Every document. */
        ALL,
        /** Documents not held out. */
        TRAIN,
        /** Held-out documents. */
        HELD_OUT
    }

    /** A {@link ToIntFunction} Spark can ship: e.g. document id -> domain. */
    public interface DocumentTag extends ToIntFunction<String>, Serializable {
    }

    private final Vocabulary vocabulary;
    private final Tokenizer tokenizer;
    private final int context;
    private final int blockSize;
    private final double heldOutFraction;
    private final long splitSeed;

    /** Blocks of {@value #DEFAULT_BLOCK_SIZE}, nothing held out. */
    public LanguageModelData(Vocabulary vocabulary, Tokenizer tokenizer, int context) {
        this(vocabulary, tokenizer, context, DEFAULT_BLOCK_SIZE, 0, 0);
    }

    private LanguageModelData(Vocabulary vocabulary, Tokenizer tokenizer, int context, int blockSize, double heldOutFraction,
                              long splitSeed) {
        if (vocabulary == null) throw new IllegalArgumentException("vocabulary must be set");
        if (tokenizer == null) throw new IllegalArgumentException("tokenizer must be set");
        if (context < 1) throw new IllegalArgumentException("context must be at least 1, got " + context);
        if (blockSize < 1) throw new IllegalArgumentException("blockSize must be at least 1, got " + blockSize);
        if (!(heldOutFraction >= 0 && heldOutFraction <= 1)) {
            throw new IllegalArgumentException("held-out fraction must be in [0, 1], got " + heldOutFraction);
        }
        this.vocabulary = vocabulary;
        this.tokenizer = tokenizer;
        this.context = context;
        this.blockSize = blockSize;
        this.heldOutFraction = heldOutFraction;
        this.splitSeed = splitSeed;
    }

    /** The same with up to {@code rows} examples per block. */
    public LanguageModelData withBlockSize(int rows) {
        return new LanguageModelData(vocabulary, tokenizer, context, rows, heldOutFraction, splitSeed);
    }

    /** The same holding out about {@code fraction} of the documents, chosen by hashing their ids with {@code seed}. */
    public LanguageModelData withHeldOut(double fraction, long seed) {
        return new LanguageModelData(vocabulary, tokenizer, context, blockSize, fraction, seed);
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public int context() {
        return context;
    }

    public int blockSize() {
        return blockSize;
    }

    public double heldOutFraction() {
        return heldOutFraction;
    }

    /** Whether a document is held out: a pure function of (seed, id, fraction). */
    public boolean isHeldOut(String documentId) {
        if (heldOutFraction <= 0) return false;
        if (heldOutFraction >= 1) return true;
        return unitHash(splitSeed, documentId) < heldOutFraction;
    }

    /** A 64-bit FNV-1a hash of the UTF-8 bytes, mixed with the seed, as a double in [0, 1). */
    static double unitHash(long seed, String s) {
        long h = 0xCBF29CE484222325L ^ seed;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xFF;
            h *= 0x100000001B3L;
        }
        h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;
        h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
        h ^= h >>> 31;
        return (h >>> 11) * 0x1.0p-53;
    }

    /** The token ids of one text (unknown words -> {@link Vocabulary#UNK_ID}). */
    public int[] encode(String text) {
        int[][] buf = {new int[16]};
        int[] n = {0};
        tokenizer.forEach(text, t -> {
            if (n[0] == buf[0].length) buf[0] = Arrays.copyOf(buf[0], buf[0].length * 2);
            buf[0][n[0]++] = vocabulary.id(t);
        });
        return Arrays.copyOf(buf[0], n[0]);
    }

    /** The examples of one document as a single block, with ids {@code firstId, firstId+1, ...} (empty text: 0 rows). */
    public RowBlock documentExamples(String text, long firstId) {
        int[] ids = encode(text);
        int rows = ids.length == 0 ? 0 : ids.length + 1;
        long[] exampleIds = new long[rows];
        int[] tokens = new int[rows * context];
        int[] labels = new int[rows];
        for (int j = 0; j < rows; j++) {
            exampleIds[j] = firstId + j;
            fill(ids, j, tokens, j * context, labels, j);
        }
        return RowBlock.ofTokens(exampleIds, context, tokens, labels);
    }

    /** Example j of a document with token ids {@code doc}: context into tokens[to..], target into labels[row]. */
    private void fill(int[] doc, int j, int[] tokens, int to, int[] labels, int row) {
        // seq[i] = EOS for i < c, doc[i - c] for c <= i < c + n, EOS at c + n
        for (int p = 0; p < context; p++) {
            int i = j + p - context; // index into doc
            tokens[to + p] = i < 0 ? Vocabulary.EOS_ID : doc[i];
        }
        labels[row] = j < doc.length ? doc[j] : Vocabulary.EOS_ID;
    }

    private int exampleCount(String text) {
        int n = tokenizer.forEach(text, t -> { });
        return n == 0 ? 0 : n + 1;
    }

    /**
     * Prepares the examples of {@code documents}: runs one counting job (tokenizing every document)
     * to fix each partition's first example id and the part sizes. The document RDD is read again by
     * every block RDD made from the result; cache it first if reading it is expensive.
     */
    public Examples examples(JavaPairRDD<String, String> documents) {
        // per partition: {p, examples, held-out examples, train tokens, train <unk>, held-out tokens, held-out <unk>},
        // and per source file its characters and unreadable characters (arrays: Kryo-registered types only)
        List<Object[]> perPartition = documents.mapPartitionsWithIndex((p, it) -> {
            long[] t = new long[7];
            t[0] = p;
            Map<String, long[]> files = new LinkedHashMap<>();
            int[] unk = new int[1];
            while (it.hasNext()) {
                Tuple2<String, String> d = it.next();
                String text = d._2();
                unk[0] = 0;
                int tokens = tokenizer.forEach(text, w -> {
                    if (vocabulary.id(w) == Vocabulary.UNK_ID) unk[0]++;
                });
                boolean held = tokens > 0 && isHeldOut(d._1());
                int n = tokens == 0 ? 0 : tokens + 1;
                t[1] += n;
                if (held) t[2] += n;
                t[held ? 5 : 3] += tokens;
                t[held ? 6 : 4] += unk[0];
                String file = TextSource.fileOf(d._1());
                long[] f = files.computeIfAbsent(file == null ? "" : file, k -> new long[2]);
                f[0] += text.length();
                f[1] += unreadable(text);
            }
            String[] names = files.keySet().toArray(new String[0]);
            long[] chars = new long[2 * names.length];
            for (int i = 0; i < names.length; i++) {
                long[] f = files.get(names[i]);
                chars[2 * i] = f[0];
                chars[2 * i + 1] = f[1];
            }
            return java.util.Collections.singletonList(new Object[] {t, names, chars}).iterator();
        }, true).collect();
        int parts = documents.getNumPartitions();
        long[] offsets = new long[parts];
        long[] counts = new long[parts];
        long held = 0;
        long[] tokens = new long[4];
        Map<String, long[]> files = new TreeMap<>();
        for (Object[] r : perPartition) {
            long[] t = (long[]) r[0];
            counts[(int) t[0]] = t[1];
            held += t[2];
            for (int i = 0; i < 4; i++) tokens[i] += t[3 + i];
            String[] names = (String[]) r[1];
            long[] chars = (long[]) r[2];
            for (int i = 0; i < names.length; i++) {
                long[] f = files.computeIfAbsent(names[i], k -> new long[2]);
                f[0] += chars[2 * i];
                f[1] += chars[2 * i + 1];
            }
        }
        for (Map.Entry<String, long[]> e : files.entrySet()) {
            long chars = e.getValue()[0], bad = e.getValue()[1];
            if (bad >= MIN_UNREADABLE_CHARS && bad > MAX_UNREADABLE_FRACTION * chars) {
                String what = e.getKey().isEmpty() ? "the input documents" : e.getKey();
                throw new TextDataException(e.getKey().isEmpty() ? null : e.getKey(), what + " does not look like text: "
                        + String.format(java.util.Locale.ROOT, "%.1f%%", 100.0 * bad / chars) + " of its " + chars
                        + " characters are invalid UTF-8 or control characters (more than "
                        + Math.round(100 * MAX_UNREADABLE_FRACTION) + "%); binary or compressed data, or not UTF-8?");
            }
        }
        long total = 0;
        for (int p = 0; p < parts; p++) {
            offsets[p] = total;
            total += counts[p];
        }
        return new Examples(this, documents, offsets, total, held, tokens);
    }

    /** Characters of {@code text} that no text file holds: U+FFFD (what invalid UTF-8 decodes to) and control characters. */
    static long unreadable(String text) {
        long n = 0;
        for (int i = 0, len = text.length(); i < len; i++) {
            char c = text.charAt(i);
            if (c == '\uFFFD' || (Character.isISOControl(c) && c != '\t' && c != '\n' && c != '\r' && c != '\f')) n++;
        }
        return n;
    }

    /** The examples of a document RDD, ready to be read as blocks; see {@link LanguageModelData#examples}. */
    public static final class Examples implements Serializable {
        private static final long serialVersionUID = 1L;

        private final LanguageModelData data;
        private final transient JavaPairRDD<String, String> documents;
        private final long[] offsets;
        private final long total, heldOut;
        /** Train tokens, train {@code <unk>} tokens, held-out tokens, held-out {@code <unk>} tokens. */
        private final long[] tokens;

        private Examples(LanguageModelData data, JavaPairRDD<String, String> documents, long[] offsets, long total, long heldOut,
                         long[] tokens) {
            this.data = data;
            this.documents = documents;
            this.offsets = offsets;
            this.total = total;
            this.heldOut = heldOut;
            this.tokens = tokens;
        }

        /** The tokens of a part (words, not counting the {@code <eos>} that ends each document). */
        public long tokens(Part part) {
            return switch (part) {
                case ALL -> tokens[0] + tokens[2];
                case TRAIN -> tokens[0];
                case HELD_OUT -> tokens[2];
            };
        }

        /** The fraction of a part's tokens that are not in the vocabulary (read as {@code <unk>}); NaN for no tokens. */
        public double outOfVocabularyRate(Part part) {
            long unk = switch (part) {
                case ALL -> tokens[1] + tokens[3];
                case TRAIN -> tokens[1];
                case HELD_OUT -> tokens[3];
            };
            long n = tokens(part);
            return n == 0 ? Double.NaN : (double) unk / n;
        }

        /**
         * A warning when more than {@link #OOV_WARNING_RATE} of a part's tokens are out of vocabulary:
         * its perplexity then mostly measures how well {@code <unk>} is predicted. {@code what} names
         * the data in the message (e.g. "heldout.path /data/dev.txt").
         */
        public Optional<String> outOfVocabularyWarning(Part part, String what) {
            double r = outOfVocabularyRate(part);
            if (!(r > OOV_WARNING_RATE)) return Optional.empty();
            return Optional.of(String.format(java.util.Locale.ROOT, "%s: %.1f%% of its %d tokens are out of vocabulary (above %.0f%%); "
                    + "its perplexity mostly measures how well <unk> is predicted - is it the same language and tokenisation "
                    + "as the training data?", what, 100 * r, tokens(part), 100 * OOV_WARNING_RATE));
        }

        /** All examples, both parts. */
        public long totalExamples() {
            return total;
        }

        /** The number of examples of a part. */
        public long count(Part part) {
            return switch (part) {
                case ALL -> total;
                case TRAIN -> total - heldOut;
                case HELD_OUT -> heldOut;
            };
        }

        /** The examples of a part as blocks (one partition per document partition, which may be empty). */
        public JavaRDD<RowBlock> blocks(Part part) {
            LanguageModelData d = data;
            long[] off = offsets;
            return documents.mapPartitionsWithIndex((p, it) -> new Packer(d, part, it, off[p], null).asBlocks(), true);
        }

        /**
         * For each block of {@link #blocks(Part)}, in the same partitions and order, the tag of each of
         * its rows: {@code tag.applyAsInt(documentId)} of the row's document (e.g.
         * {@link LanguageModelData#syntheticDomain} for the domain of a synthetic document). Zip
         * with the blocks ({@code blocks.zip(tags)}) to line them up.
         */
        public JavaRDD<int[]> rowTags(Part part, DocumentTag tag) {
            LanguageModelData d = data;
            long[] off = offsets;
            return documents.mapPartitionsWithIndex((p, it) -> new Packer(d, part, it, off[p], tag).asTags(), true);
        }
    }

    /** Walks a partition's documents and packs the examples of one part into blocks (lazily). */
    private static final class Packer {
        private final LanguageModelData d;
        private final Part part;
        private final Iterator<Tuple2<String, String>> docs;
        private final DocumentTag tag;
        private long nextId;
        private int[] doc;
        private int docTag;
        private int j, rows;
        private long docFirstId;

        private long[] ids;
        private int[] tokens, labels, tags;
        private int fill;

        Packer(LanguageModelData d, Part part, Iterator<Tuple2<String, String>> docs, long firstId, DocumentTag tag) {
            this.d = d;
            this.part = part;
            this.docs = docs;
            this.nextId = firstId;
            this.tag = tag;
        }

        /** Moves to a document of the part with examples left; false at the end. */
        private boolean advance() {
            while (doc == null || j >= rows) {
                if (!docs.hasNext()) return false;
                Tuple2<String, String> t = docs.next();
                boolean held = d.isHeldOut(t._1());
                if (part != Part.ALL && (part == Part.HELD_OUT) != held) {
                    nextId += d.exampleCount(t._2()); // the other part's examples keep their ids
                    doc = null;
                    continue;
                }
                doc = d.encode(t._2());
                rows = doc.length == 0 ? 0 : doc.length + 1;
                j = 0;
                docFirstId = nextId;
                nextId += rows;
                if (tag != null && rows > 0) docTag = tag.applyAsInt(t._1());
            }
            return true;
        }

        /** Fills the next block; false when there are no examples left. */
        private boolean fillBlock() {
            fill = 0;
            int cap = d.blockSize;
            while (fill < cap && advance()) {
                if (ids == null) allocate(cap);
                int take = Math.min(cap - fill, rows - j);
                for (int k = 0; k < take; k++, j++, fill++) {
                    ids[fill] = docFirstId + j;
                    d.fill(doc, j, tokens, fill * d.context, labels, fill);
                    if (tags != null) tags[fill] = docTag;
                }
            }
            return fill > 0;
        }

        private void allocate(int cap) {
            ids = new long[cap];
            tokens = new int[cap * d.context];
            labels = new int[cap];
            if (tag != null) tags = new int[cap];
        }

        Iterator<RowBlock> asBlocks() {
            return new Lazy<>() {
                @Override
                RowBlock make() {
                    if (!fillBlock()) return null;
                    RowBlock b = RowBlock.ofTokens(Arrays.copyOf(ids, fill), d.context, Arrays.copyOf(tokens, fill * d.context),
                            Arrays.copyOf(labels, fill));
                    return b;
                }
            };
        }

        Iterator<int[]> asTags() {
            return new Lazy<>() {
                @Override
                int[] make() {
                    return fillBlock() ? Arrays.copyOf(tags, fill) : null;
                }
            };
        }
    }

    private abstract static class Lazy<T> implements Iterator<T> {
        private T next;
        private boolean done;

        abstract T make();

        @Override
        public boolean hasNext() {
            if (next == null && !done) {
                next = make();
                if (next == null) done = true;
            }
            return next != null;
        }

        @Override
        public T next() {
            if (!hasNext()) throw new NoSuchElementException();
            T t = next;
            next = null;
            return t;
        }
    }

    // ---- the built-in synthetic corpus, generated on the executors ----

    private static final String SYNTHETIC_PREFIX = "markov:";

    /**
     * Documents 0..count-1 of {@code corpus}, each generated on an executor
     * ({@link MarkovMixtureCorpus#document(long)}), in {@code partitions} contiguous index ranges.
     * Ids are {@code markov:<index>:d<domain>} ({@link #syntheticDomain} reads the domain back).
     */
    public static JavaPairRDD<String, String> synthetic(JavaSparkContext sc, MarkovMixtureCorpus corpus, long count, int partitions) {
        if (count < 0) throw new IllegalArgumentException("document count must be >= 0, got " + count);
        if (partitions < 1) throw new IllegalArgumentException("partitions must be at least 1, got " + partitions);
        List<Integer> slices = new ArrayList<>(partitions);
        for (int i = 0; i < partitions; i++) slices.add(i);
        return sc.parallelize(slices, partitions).flatMapToPair(p -> {
            long from = count * p / partitions, to = count * (p + 1) / partitions;
            return new Iterator<Tuple2<String, String>>() {
                long i = from;

                @Override
                public boolean hasNext() {
                    return i < to;
                }

                @Override
                public Tuple2<String, String> next() {
                    if (i >= to) throw new NoSuchElementException();
                    MarkovMixtureCorpus.Document doc = corpus.document(i++);
                    return new Tuple2<>(syntheticId(doc.index(), doc.domain()), doc.text());
                }
            };
        });
    }

    /** The id of synthetic document {@code index} of domain {@code domain}. */
    public static String syntheticId(long index, int domain) {
        return SYNTHETIC_PREFIX + index + ":d" + domain;
    }

    /** The domain of a synthetic document id ({@link #synthetic}); usable as a {@link DocumentTag}. */
    public static int syntheticDomain(String documentId) {
        int k = documentId.lastIndexOf(":d");
        if (!documentId.startsWith(SYNTHETIC_PREFIX) || k < 0) {
            throw new IllegalArgumentException("'" + documentId + "' is not a synthetic document id (" + SYNTHETIC_PREFIX + "<index>:d<domain>)");
        }
        try {
            return Integer.parseInt(documentId.substring(k + 2));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + documentId + "' is not a synthetic document id (" + SYNTHETIC_PREFIX + "<index>:d<domain>)");
        }
    }
}
