package org.sparkmoe.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.SparkTestContext;

class VocabularyTest {
    private static final List<String> DOCS = List.of("b a c a", "d b a", "c e <eos>", "e d f", "a");

    private static Vocabulary build(int maxSize) {
        JavaSparkContext sc = SparkTestContext.get();
        JavaRDD<String> docs = sc.parallelize(DOCS, 3);
        return Vocabulary.build(docs, new Tokenizer(true, Tokenizer.Punctuation.ATTACH), maxSize);
    }

    @Test
    void topWordsAfterSpecialsTiesByWord() {
        // counts: a 4, b 2, c 2, d 2, e 2, f 1; <eos> in the text is not counted
        Vocabulary v = build(5);
        assertEquals(List.of("<unk>", "<eos>", "a", "b", "c"), v.words());
        assertEquals(5, v.size());
        assertEquals(4, v.count(2));
        assertEquals(Vocabulary.UNK_ID, v.id("d"));
        assertEquals(Vocabulary.EOS_ID, v.id("<eos>"));
        assertEquals(3, v.id("b"));
        assertEquals("c", v.word(4));
        assertEquals(v, build(5), "deterministic");
        Vocabulary all = build(100);
        assertEquals(List.of("<unk>", "<eos>", "a", "b", "c", "d", "e", "f"), all.words());
    }

    @Test
    void tooSmallIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> build(2));
        assertTrue(e.getMessage().contains("at least 3") && e.getMessage().contains("<unk>"), e.getMessage());
        assertEquals(3, build(3).size());
    }

    @Test
    void saveLoadRoundTrip(@TempDir Path dir) throws IOException {
        Vocabulary v = build(100);
        String path = dir.resolve("sub/vocab.txt").toUri().toString();
        Configuration conf = new Configuration();
        v.save(path, conf);
        v.save(path, conf); // replaces
        assertEquals(v, Vocabulary.load(path, conf));
        try (var files = Files.list(dir.resolve("sub"))) {
            assertEquals(List.of("vocab.txt"), files.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".crc")).toList());
        }
        List<String> lines = Files.readAllLines(dir.resolve("sub/vocab.txt"), StandardCharsets.UTF_8);
        assertEquals("<unk>\t0", lines.get(0));
        assertEquals("a\t4", lines.get(2));

        Path plain = dir.resolve("plain.txt");
        Files.writeString(plain, "<unk>\n<eos>\nzebra\n\u00e9t\u00e9\n");
        Vocabulary p = Vocabulary.load(plain.toString(), conf);
        assertEquals(2, p.id("zebra"));
        assertEquals(3, p.id("\u00e9t\u00e9"));
        assertFalse(p.contains("a"));

        Path bad = dir.resolve("bad.txt");
        Files.writeString(bad, "<unk>\n<eos>\nx\tmany\n");
        IOException e = assertThrows(IOException.class, () -> Vocabulary.load(bad.toString(), conf));
        assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("bad.txt"), e.getMessage());
        Path dup = dir.resolve("dup.txt");
        Files.writeString(dup, "<unk>\n<eos>\nx\nx\n");
        e = assertThrows(IOException.class, () -> Vocabulary.load(dup.toString(), conf));
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
    }

    @Test
    void javaSerializationKeepsLookups() throws Exception {
        Vocabulary v = build(100);
        var bytes = new java.io.ByteArrayOutputStream();
        try (var out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(v);
        }
        Vocabulary back;
        try (var in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            back = (Vocabulary) in.readObject();
        }
        assertEquals(v.id("e"), back.id("e"));
    }
}
