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
