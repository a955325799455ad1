package org.sparkmoe.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.SparkTestContext;

import scala.Tuple2;

class LanguageModelDataTest {
    private static final Vocabulary VOCAB = Vocabulary.of(List.of("the", "cat", "sat"), null); // ids 2, 3, 4

    private static Batch batch(RowBlock b) {
        int[] block = new int[b.size()], rows = new int[b.size()];
        for (int i = 0; i < rows.length; i++) rows[i] = i;
        return RowBlock.select(new RowBlock[] {b}, block, rows, 0, b.size(), Precision.F64);
    }

    @Test
    void handCheckedDocument() {
        LanguageModelData data = new LanguageModelData(VOCAB, Tokenizer.defaults(), 2);
        Batch b = batch(data.documentExamples("The cat sat on", 10));
        // <eos> <eos> the cat sat <unk> <eos>
        assertArrayEquals(new int[] {1, 1, 1, 2, 2, 3, 3, 4, 4, 0}, b.tokens());
        assertArrayEquals(new int[] {2, 3, 4, 0, 1}, b.labels());
        assertArrayEquals(new long[] {10, 11, 12, 13, 14}, java.util.Arrays.copyOf(b.exampleIds(), 5));
        assertEquals(2, data.documentExamples(" ,", 0).size(), "punctuation-only text is one token with SPLIT");
        assertEquals(0, new LanguageModelData(VOCAB, new Tokenizer(true, Tokenizer.Punctuation.DROP), 2).documentExamples(" , ", 0).size());
    }

    @Test
    void blocksOnSparkMatchPerDocumentExamples() {
        JavaSparkContext sc = SparkTestContext.get();
        List<Tuple2<String, String>> docs = List.of(new Tuple2<>("d0", "the cat"), new Tuple2<>("d1", ""),
                new Tuple2<>("d2", "sat sat dog"), new Tuple2<>("d3", "cat"));
        LanguageModelData data = new LanguageModelData(VOCAB, Tokenizer.defaults(), 3).withBlockSize(4);
        LanguageModelData.Examples ex = data.examples(sc.parallelizePairs(docs, 2));
        assertEquals(3 + 4 + 2, ex.totalExamples());
        List<RowBlock> blocks = ex.blocks(LanguageModelData.Part.ALL).collect();
        // partition 0: d0 (3 examples), d1 (none) -> 1 block; partition 1: d2 (4) + d3 (2) -> blocks of 4 and 2
        assertEquals(List.of(3, 4, 2), blocks.stream().map(RowBlock::size).toList());
        List<Integer> tokens = new ArrayList<>(), labels = new ArrayList<>();
        List<Long> ids = new ArrayList<>();
        for (RowBlock rb : blocks) {
            Batch b = batch(rb);
            for (int t : b.tokens()) tokens.add(t);
            for (int i = 0; i < b.size(); i++) {
                labels.add(b.labels()[i]);
                ids.add(b.exampleIds()[i]);
            }
        }
        List<Integer> expectT = new ArrayList<>(), expectL = new ArrayList<>();
        long first = 0;
        for (Tuple2<String, String> d : docs) {
            RowBlock one = data.documentExamples(d._2(), first);
            if (one.size() == 0) continue;
            Batch b = batch(one);
            first += b.size();
            for (int t : java.util.Arrays.copyOf(b.tokens(), b.size() * 3)) expectT.add(t);
            for (int i = 0; i < b.size(); i++) expectL.add(b.labels()[i]);
        }
        assertEquals(expectT, tokens);
        assertEquals(expectL, labels);
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L), ids);
    }

    /** Issue 11 case 8: 200 KB of random bytes as a text corpus is rejected, naming the file; real text is not. */
    @Test
    void randomBytesAreNotAccepted(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        JavaSparkContext sc = SparkTestContext.get();
        byte[] junk = new byte[200 * 1024];
        new java.util.Random(11).nextBytes(junk);
        java.nio.file.Files.write(dir.resolve("corpus.txt"), junk);
        // prose, some of it Latin-1 (invalid UTF-8 for every accented letter), and a few stray control characters
        java.nio.file.Files.writeString(dir.resolve("good.txt"), "the cat sat on the mat\n".repeat(2000) + "\u0001\u0002\n");
        java.nio.file.Files.write(dir.resolve("latin1.txt"), "le caf\u00e9 est tr\u00e8s bon, d\u00e9j\u00e0 vu\n".repeat(500)
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        Tokenizer tok = Tokenizer.defaults();
        for (TextSource.DocumentMode mode : TextSource.DocumentMode.values()) {
            JavaPairRDD<String, String> docs = TextSource.textFiles(sc, dir.resolve("*.txt").toString(), mode, 3);
            LanguageModelData data = new LanguageModelData(Vocabulary.build(docs.values(), tok, 100), tok, 2);
            TextDataException e = org.junit.jupiter.api.Assertions.assertThrows(TextDataException.class, () -> data.examples(docs));
            assertTrue(e.file().endsWith("/corpus.txt"), mode + ": " + e.file());
            assertTrue(e.getMessage().contains("corpus.txt") && e.getMessage().contains("does not look like text"), e.getMessage());

            JavaPairRDD<String, String> text = TextSource.textFiles(sc, dir.resolve("good.txt") + "," + dir.resolve("latin1.txt"), mode, 3);
            assertTrue(data.examples(text).totalExamples() > 0, mode.toString());
        }
    }

    /** Issue 11 case 8: the out-of-vocabulary rate of each part, and the warning above the threshold. */
    @Test
    void outOfVocabularyRateOfEachPart() {
        JavaSparkContext sc = SparkTestContext.get();
        List<Tuple2<String, String>> docs = new ArrayList<>();
        for (int i = 0; i < 40; i++) docs.add(new Tuple2<>("doc" + i, "the cat sat on the mat"));  // 2 of 6 words unknown
        LanguageModelData probe = new LanguageModelData(VOCAB, Tokenizer.defaults(), 2).withHeldOut(0.5, 3);
        docs.replaceAll(d -> probe.isHeldOut(d._1()) ? new Tuple2<>(d._1(), "dog bird fish") : d);  // held out: all unknown
        LanguageModelData.Examples ex = probe.examples(sc.parallelizePairs(docs, 3));
        long held = docs.stream().filter(d -> probe.isHeldOut(d._1())).count();
        assertTrue(held > 5 && held < 35, "held-out documents " + held);
        assertEquals(2.0 / 6, ex.outOfVocabularyRate(LanguageModelData.Part.TRAIN), 1e-12);
        assertEquals(1.0, ex.outOfVocabularyRate(LanguageModelData.Part.HELD_OUT), 0.0);
        assertEquals(3 * held, ex.tokens(LanguageModelData.Part.HELD_OUT));
        assertEquals(((40 - held) * 2 + 3 * held) / (double) ((40 - held) * 6 + 3 * held),
                ex.outOfVocabularyRate(LanguageModelData.Part.ALL), 1e-12);
        String w = ex.outOfVocabularyWarning(LanguageModelData.Part.HELD_OUT, "heldout.path dev.txt").orElseThrow();
        assertTrue(w.startsWith("heldout.path dev.txt: 100.0% of its " + 3 * held + " tokens are out of vocabulary"), w);
        assertTrue(ex.outOfVocabularyWarning(LanguageModelData.Part.TRAIN, "train").isPresent(), "1/3 is above 25%");

        LanguageModelData.Examples clean = new LanguageModelData(VOCAB, Tokenizer.defaults(), 2)
                .examples(sc.parallelizePairs(List.of(new Tuple2<>("a", "the cat sat"), new Tuple2<>("b", "cat the dog cat")), 2));
        assertEquals(1.0 / 7, clean.outOfVocabularyRate(LanguageModelData.Part.ALL), 1e-12);
        assertTrue(clean.outOfVocabularyWarning(LanguageModelData.Part.ALL, "input").isEmpty());
        assertTrue(Double.isNaN(clean.outOfVocabularyRate(LanguageModelData.Part.HELD_OUT)));
    }

    @Test
    void heldOutSplitIsDeterministicDisjointAndIdsUnique() {
        JavaSparkContext sc = SparkTestContext.get();
        MarkovMixtureCorpus corpus = new MarkovMixtureCorpus(50, 3, 3, 0.05, 12, null, 3);
        JavaPairRDD<String, String> docs = LanguageModelData.synthetic(sc, corpus, 400, 3);
        Tokenizer tok = Tokenizer.defaults();
        Vocabulary vocab = Vocabulary.build(docs.values(), tok, 40); // some words become <unk>
        LanguageModelData data = new LanguageModelData(vocab, tok, 4).withBlockSize(100).withHeldOut(0.25, 42);
        LanguageModelData.Examples ex = data.examples(docs);

        List<RowBlock> train = ex.blocks(LanguageModelData.Part.TRAIN).collect();
        List<RowBlock> held = ex.blocks(LanguageModelData.Part.HELD_OUT).collect();
        Set<Long> trainIds = ids(train), heldIds = ids(held);
        assertEquals(ex.count(LanguageModelData.Part.TRAIN), trainIds.size());
        assertEquals(ex.count(LanguageModelData.Part.HELD_OUT), heldIds.size());
        assertEquals(ex.totalExamples(), trainIds.size() + heldIds.size());
        Set<Long> union = new HashSet<>(trainIds);
        union.addAll(heldIds);
        assertEquals(ex.totalExamples(), union.size(), "disjoint");
        assertEquals(ex.totalExamples() - 1, union.stream().mapToLong(Long::longValue).max().orElseThrow(), "dense ids");
        assertTrue(train.stream().allMatch(b -> b.size() <= 100));
        double share = heldIds.size() / (double) ex.totalExamples();
        assertTrue(share > 0.15 && share < 0.35, "held-out share " + share);

        // a rerun with another partitioning holds out the same documents
        LanguageModelData again = new LanguageModelData(vocab, tok, 4).withHeldOut(0.25, 42);
        for (Tuple2<String, String> d : docs.collect()) {
            assertEquals(data.isHeldOut(d._1()), again.isHeldOut(d._1()));
        }
        LanguageModelData.Examples ex2 = again.examples(LanguageModelData.synthetic(sc, corpus, 400, 3));
        assertEquals(heldIds, ids(ex2.blocks(LanguageModelData.Part.HELD_OUT).collect()));
        long heldDocs = docs.keys().filter(data::isHeldOut).count();
        long heldDocs7 = docs.keys().filter(new LanguageModelData(vocab, tok, 4).withHeldOut(0.25, 7)::isHeldOut).count();
        assertTrue(heldDocs > 50 && heldDocs < 150 && heldDocs7 > 50 && heldDocs7 < 150, heldDocs + " " + heldDocs7);

        // row tags line up with the blocks: the domain of each held-out example's document
        List<int[]> tags = ex.rowTags(LanguageModelData.Part.HELD_OUT, LanguageModelData::syntheticDomain).collect();
        assertEquals(held.size(), tags.size());
        int rows = 0;
        for (int i = 0; i < held.size(); i++) {
            assertEquals(held.get(i).size(), tags.get(i).length);
            for (int d : tags.get(i)) assertTrue(d >= 0 && d < 3);
            rows += tags.get(i).length;
        }
        assertEquals(heldIds.size(), rows);
    }

    @Test
    void syntheticDocumentsAreGeneratedOnExecutors() {
        JavaSparkContext sc = SparkTestContext.get();
        MarkovMixtureCorpus corpus = new MarkovMixtureCorpus(30, 2, 2, 0.1, 5, null, 1);
        List<Tuple2<String, String>> docs = LanguageModelData.synthetic(sc, corpus, 7, 3).collect();
        assertEquals(7, docs.size());
        for (int i = 0; i < 7; i++) {
            MarkovMixtureCorpus.Document d = corpus.document(i);
            assertEquals(LanguageModelData.syntheticId(i, d.domain()), docs.get(i)._1());
            assertEquals(d.text(), docs.get(i)._2());
            assertEquals(d.domain(), LanguageModelData.syntheticDomain(docs.get(i)._1()));
        }
    }

    private static Set<Long> ids(List<RowBlock> blocks) {
        Set<Long> s = new HashSet<>();
        for (RowBlock b : blocks) for (int i = 0; i < b.size(); i++) assertTrue(s.add(b.id(i)), "duplicate id " + b.id(i));
        return s;
    }
}
