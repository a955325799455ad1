package org.sparkmoe.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.ObjectInputStream;
import java.io.OutputStreamWriter;
import java.io.Serializable;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;

import scala.Tuple2;

/**
 * An immutable word {@code <->} id map for language models: {@value #UNK} = id 0 (every word not in the
 * vocabulary), {@value #EOS} = id 1 (document boundary: context padding and the last target), then
 * the most frequent words of a corpus, by count descending and ties by word (String order), so the
 * same corpus always gives the same ids.
 * <p>
 * Saved as UTF-8 text, one line per id in id order: {@code word<TAB>count} (the count column is
 * optional when reading; the specials have count 0).
 */
public final class Vocabulary implements Serializable {
    private static final long serialVersionUID = 1L;

    public static final String UNK = "<unk>";
    public static final String EOS = "<eos>";
    public static final int UNK_ID = 0;
    public static final int EOS_ID = 1;
    /** The special tokens. */
    public static final int SPECIALS = 2;

    private final String[] words;
    private final long[] counts;
    private transient Map<String, Integer> index;

    private Vocabulary(String[] words, long[] counts) {
        this.words = words;
        this.counts = counts;
        this.index = buildIndex(words);
    }

    private static Map<String, Integer> buildIndex(String[] words) {
        Map<String, Integer> m = new HashMap<>(words.length * 2);
        for (int i = 0; i < words.length; i++) {
            if (m.put(words[i], i) != null) throw new IllegalArgumentException("word '" + words[i] + "' appears twice in the vocabulary (id " + i + ")");
        }
        return m;
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        index = buildIndex(words);
    }

    /**
     * A vocabulary of the given words (after the two specials, in this order) and counts (null: all 0).
     */
    public static Vocabulary of(List<String> words, long[] counts) {
        String[] w = new String[words.size() + SPECIALS];
        long[] c = new long[w.length];
        w[UNK_ID] = UNK;
        w[EOS_ID] = EOS;
        for (int i = 0; i < words.size(); i++) {
            String s = words.get(i);
            if (s == null || s.isEmpty() || s.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException("vocabulary word " + i + " must be non-empty without whitespace, got '" + s + "'");
            }
            w[i + SPECIALS] = s;
            c[i + SPECIALS] = counts == null ? 0 : counts[i];
        }
        return new Vocabulary(w, c);
    }

    /**
     * The {@code maxSize - 2} most frequent tokens of {@code documents} (after the two specials),
     * counted on the cluster ({@code reduceByKey}, then {@code takeOrdered}: only the chosen words
     * reach the driver). Tokens spelled like a special are not counted.
     *
     * @param maxSize at most this many ids, specials included; at least 3
     */
    public static Vocabulary build(JavaRDD<String> documents, Tokenizer tokenizer, int maxSize) {
        return build(documents, tokenizer, maxSize, 1);
    }

    /** As {@link #build(JavaRDD, Tokenizer, int)}, keeping only words seen at least {@code minCount} times. */
    public static Vocabulary build(JavaRDD<String> documents, Tokenizer tokenizer, int maxSize, long minCount) {
        checkSize(maxSize);
        List<Tuple2<String, Long>> top = documents
                .flatMapToPair(text -> {
                    Map<String, Long> local = new HashMap<>();
                    tokenizer.forEach(text, t -> {
                        if (!t.equals(UNK) && !t.equals(EOS)) local.merge(t, 1L, Long::sum);
                    });
                    List<Tuple2<String, Long>> out = new ArrayList<>(local.size());
                    for (Map.Entry<String, Long> e : local.entrySet()) out.add(new Tuple2<>(e.getKey(), e.getValue()));
                    return out.iterator();
                })
                .reduceByKey(Long::sum)
                .filter(t -> t._2() >= minCount)
                .takeOrdered(maxSize - SPECIALS, new ByFrequency());
        List<String> words = new ArrayList<>(top.size());
        long[] counts = new long[top.size()];
        for (int i = 0; i < top.size(); i++) {
            words.add(top.get(i)._1());
            counts[i] = top.get(i)._2();
        }
        return of(words, counts);
    }

    private static void checkSize(int maxSize) {
        if (maxSize < SPECIALS + 1) {
            throw new IllegalArgumentException("vocabulary maxSize must be at least " + (SPECIALS + 1) + " (the special tokens "
                    + UNK + " and " + EOS + " plus at least one word), got " + maxSize);
        }
    }

    /** Count descending, then word ascending. */
    static final class ByFrequency implements Comparator<Tuple2<String, Long>>, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public int compare(Tuple2<String, Long> a, Tuple2<String, Long> b) {
            int c = Long.compare(b._2(), a._2());
            return c != 0 ? c : a._1().compareTo(b._1());
        }
    }

    /** Number of ids, specials included. */
    public int size() {
        return words.length;
    }

    /** The id of a token; {@link #UNK_ID} for a word not in the vocabulary. */
    public int id(String word) {
        Integer i = index.get(word);
        return i == null ? UNK_ID : i;
    }

    /** Whether the token has an id of its own. */
    public boolean contains(String word) {
        return index.containsKey(word);
    }

    /** The word of an id. */
    public String word(int id) {
        if (id < 0 || id >= words.length) throw new IndexOutOfBoundsException("id " + id + " outside a vocabulary of " + words.length);
        return words[id];
    }

    /** The corpus count recorded for an id (0 for the specials and for vocabularies without counts). */
    public long count(int id) {
        if (id < 0 || id >= words.length) throw new IndexOutOfBoundsException("id " + id + " outside a vocabulary of " + words.length);
        return counts[id];
    }

    /** The words in id order (a copy). */
    public List<String> words() {
        return List.of(words);
    }

    /**
     * Writes the vocabulary to {@code path} (any Hadoop file system): to a temporary file next to it,
     * then renamed into place; an existing file at {@code path} is replaced.
     */
    public void save(String path, Configuration conf) throws IOException {
        Path target = new Path(path);
        FileSystem fs = target.getFileSystem(conf);
        Path tmp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
        try {
            try (FSDataOutputStream out = fs.create(tmp, false);
                 Writer w = new OutputStreamWriter(out, StandardCharsets.UTF_8)) {
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < words.length; i++) {
                    sb.setLength(0);
                    sb.append(words[i]).append('\t').append(counts[i]).append('\n');
                    w.write(sb.toString());
                }
            }
            if (fs.exists(target) && !fs.delete(target, false)) throw new IOException("cannot replace " + target);
            if (!fs.rename(tmp, target)) throw new IOException("cannot rename " + tmp + " to " + target);
        } catch (org.apache.hadoop.fs.FSError e) {
            // Hadoop's local filesystem reports a failed write (a full disk) as an Error that names no path
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IOException("cannot write " + target + ": " + cause.getMessage(), cause);
        } finally {
            if (fs.exists(tmp)) fs.delete(tmp, false);
        }
    }

    /** Reads a vocabulary written by {@link #save}; lines are {@code word} or {@code word<TAB>count}. */
    public static Vocabulary load(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf);
        List<String> words = new ArrayList<>();
        List<Long> counts = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(fs.open(p), StandardCharsets.UTF_8))) {
            String line;
            int no = 0;
            while ((line = r.readLine()) != null) {
                no++;
                if (line.isEmpty()) throw new IOException(path + ": line " + no + " is empty (expected word or word<TAB>count)");
                int tab = line.indexOf('\t');
                String word = tab < 0 ? line : line.substring(0, tab);
                long count = 0;
                if (tab >= 0) {
                    try {
                        count = Long.parseLong(line.substring(tab + 1).trim());
                    } catch (NumberFormatException e) {
                        throw new IOException(path + ": line " + no + ": count '" + line.substring(tab + 1) + "' is not an integer");
                    }
                }
                if (word.isEmpty() || word.chars().anyMatch(Character::isWhitespace)) {
                    throw new IOException(path + ": line " + no + ": word '" + word + "' is empty or contains whitespace");
                }
                words.add(word);
                counts.add(count);
            }
        }
        if (words.size() < SPECIALS + 1 || !words.get(UNK_ID).equals(UNK) || !words.get(EOS_ID).equals(EOS)) {
            throw new IOException(path + ": not a vocabulary file: expected " + UNK + " on line 1, " + EOS
                    + " on line 2 and at least one word after them, got " + words.subList(0, Math.min(3, words.size())));
        }
        String[] w = words.toArray(new String[0]);
        long[] c = new long[w.length];
        for (int i = 0; i < c.length; i++) c[i] = counts.get(i);
        try {
            return new Vocabulary(w, c);
        } catch (IllegalArgumentException e) {
            throw new IOException(path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Vocabulary v && Arrays.equals(words, v.words) && Arrays.equals(counts, v.counts);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        return "Vocabulary[" + words.length + " ids: " + String.join(" ", Arrays.asList(words).subList(0, Math.min(8, words.length)))
                + (words.length > 8 ? " ..." : "") + "]";
    }
}
