package org.sparkmoe.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.SparkTestContext;

import scala.Tuple2;

class TextSourceTest {
    private static Map<String, String> collect(JavaPairRDD<String, String> rdd) {
        Map<String, String> m = new TreeMap<>();
        for (Tuple2<String, String> t : rdd.collect()) {
            assertTrue(m.put(t._1(), t._2()) == null, "duplicate id " + t._1());
        }
        return m;
    }

    @Test
    void textFilesPerFileAndPerLine(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("a.txt"), "first line\nsecond line\n");
        Files.writeString(dir.resolve("b.txt"), "only line");
        Files.createDirectory(dir.resolve("other"));
        Files.writeString(dir.resolve("other/c.txt"), "x\ny");
        JavaSparkContext sc = SparkTestContext.get();

        Map<String, String> files = collect(TextSource.textFiles(sc, dir.resolve("*.txt").toString(), TextSource.DocumentMode.FILE, 2));
        assertEquals(2, files.size());
        String a = dir.resolve("a.txt").toUri().getPath();
        assertEquals("first line\nsecond line\n", files.entrySet().stream().filter(e -> e.getKey().endsWith(a)).findFirst().orElseThrow().getValue());

        String paths = dir.resolve("a.txt") + "," + dir.resolve("b.txt") + "," + dir.resolve("other");
        Map<String, String> lines = collect(TextSource.textFiles(sc, paths, TextSource.DocumentMode.LINE, 3));
        assertEquals(5, lines.size(), lines.toString());
        assertEquals("second line", lines.entrySet().stream().filter(e -> e.getKey().endsWith(a + ":11")).findFirst().orElseThrow().getValue());
        assertTrue(lines.containsValue("only line") && lines.containsValue("y"));
        assertEquals(lines, collect(TextSource.textFiles(sc, paths, TextSource.DocumentMode.LINE, 1)), "ids do not depend on partitioning");
    }

    @Test
    void missingAndEmptyInputsNameThePath(@TempDir Path dir) throws IOException {
        JavaSparkContext sc = SparkTestContext.get();
        String missing = dir.resolve("nothing-*.txt").toString();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TextSource.textFiles(sc, missing, TextSource.DocumentMode.FILE, 1));
        assertTrue(e.getMessage().contains(missing), e.getMessage());
        Files.createDirectory(dir.resolve("empty"));
        e = assertThrows(IllegalArgumentException.class,
                () -> TextSource.textFiles(sc, dir.resolve("empty").toString(), TextSource.DocumentMode.LINE, 1));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
        Files.writeString(dir.resolve("zero.txt"), "");
        e = assertThrows(IllegalArgumentException.class,
                () -> TextSource.textFiles(sc, dir.resolve("zero.txt").toString(), TextSource.DocumentMode.LINE, 1));
        assertTrue(e.getMessage().contains("zero.txt") && e.getMessage().contains("empty"), e.getMessage());
    }

    @Test
    void parquetAndCsvStringColumn(@TempDir Path dir) {
        SparkSession spark = SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
        Dataset<Row> df = spark.createDataset(List.of("the cat sat", "a dog, barking", "the cat sat"), Encoders.STRING())
                .toDF("body").selectExpr("body", "length(body) AS n");
        String pq = dir.resolve("t.parquet").toString();
        String csv = dir.resolve("t.csv").toString();
        df.coalesce(1).write().parquet(pq);
        df.coalesce(1).write().option("header", true).csv(csv);

        for (JavaPairRDD<String, String> rdd : List.of(TextSource.parquet(spark, pq, "body"), TextSource.csv(spark, csv, "body", true))) {
            List<Tuple2<String, String>> rows = rdd.collect();
            assertEquals(3, rows.size());
            assertEquals(List.of("a dog, barking", "the cat sat", "the cat sat"), rows.stream().map(Tuple2::_2).sorted().toList());
            // identical texts of one file share an id; different texts have different ids
            assertEquals(2, rows.stream().map(Tuple2::_1).distinct().count(), rows.toString());
            assertTrue(rows.get(0)._1().contains("part-"), rows.get(0)._1());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TextSource.parquet(spark, pq, "text"));
        assertTrue(e.getMessage().contains("'text'") && e.getMessage().contains(pq) && e.getMessage().contains("body")
                && e.getMessage().contains("n"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TextSource.csv(spark, csv, "text", true));
        assertTrue(e.getMessage().contains("'text'") && e.getMessage().contains(csv), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TextSource.parquet(spark, pq, "n"));
        assertTrue(e.getMessage().contains("'n'") && e.getMessage().contains("int"), e.getMessage());
        String none = dir.resolve("none.parquet").toString();
        e = assertThrows(IllegalArgumentException.class, () -> TextSource.parquet(spark, none, "body"));
        assertTrue(e.getMessage().contains(none), e.getMessage());
    }
}
