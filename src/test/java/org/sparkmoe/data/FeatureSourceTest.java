package org.sparkmoe.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.NetworkSpec.Task;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.SparkTestContext;

class FeatureSourceTest {

    @TempDir
    Path dir;

    static SparkSession spark() {
        return SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
    }

    /** One example as read back. */
    record Ex(long id, float[] features, int label, float[] targets) {
    }

    /** All examples of a table, by id. */
    static TreeMap<Long, Ex> examples(FeatureTable t) {
        List<RowBlock> blocks = t.blocks().collect();
        TreeMap<Long, Ex> out = new TreeMap<>();
        for (RowBlock b : blocks) {
            assertTrue(b.size() <= t.blockSize(), "block of " + b.size() + " rows");
            int n = b.size();
            int[] which = new int[n];
            int[] rows = new int[n];
            for (int i = 0; i < n; i++) rows[i] = i;
            Batch batch = RowBlock.select(new RowBlock[] {b}, which, rows, 0, n, Precision.F32);
            for (int i = 0; i < n; i++) {
                float[] f = new float[t.numFeatures()];
                for (int j = 0; j < f.length; j++) f[j] = (float) batch.features().get(i, j);
                float[] tg = null;
                if (batch.targets() != null) {
                    tg = new float[batch.targets().cols()];
                    for (int j = 0; j < tg.length; j++) tg[j] = (float) batch.targets().get(i, j);
                }
                long id = batch.exampleIds()[i];
                Ex prev = out.put(id, new Ex(id, f, batch.labels() == null ? -1 : batch.labels()[i], tg));
                assertTrue(prev == null, "duplicate id " + id);
            }
        }
        return out;
    }

    static void assertIdsDense(TreeMap<Long, Ex> ex, long n) {
        assertEquals(n, ex.size());
        assertEquals(0L, ex.firstKey());
        assertEquals(n - 1, ex.lastKey());
    }

    private String write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
        return p.toString();
    }

    private static FeatureDataException fails(FeatureSource s) {
        return assertThrows(FeatureDataException.class, () -> s.read(spark()));
    }

    private static void assertNames(FeatureDataException e, String file, long row, String column) {
        String m = e.getMessage();
        assertTrue(m.contains(file), "names the file " + file + ": " + m);
        assertTrue(m.contains("row " + row + " "), "names row " + row + ": " + m);
        assertTrue(m.contains("column '" + column + "'"), "names column " + column + ": " + m);
        assertTrue(e.file().contains(file), e.file());
        assertEquals(row, e.row());
        assertEquals(column, e.column());
    }

    // ---- libsvm ----

    @Test
    void libsvmClassificationRoundTrip() throws IOException {
        String f = write("a.libsvm", "0 1:0.5 3:2\n2 2:-1.5\n1.0 1:1 2:2 3:3 4:4\n# comment\n0 4:7\n");
        FeatureTable t = FeatureSource.libsvm(f).blockSize(2).read(spark());
        assertEquals(Task.CLASSIFICATION, t.task());
        assertEquals(4, t.numFeatures());
        assertEquals(3, t.numClasses());
        assertEquals(4, t.numRows());
        assertEquals(3, t.outputs());
        TreeMap<Long, Ex> ex = examples(t);
        assertIdsDense(ex, 4);
        assertArrayEquals(new float[] {0.5f, 0, 2, 0}, ex.get(0L).features());
        assertEquals(0, ex.get(0L).label());
        assertArrayEquals(new float[] {0, -1.5f, 0, 0}, ex.get(1L).features());
        assertEquals(2, ex.get(1L).label());
        assertArrayEquals(new float[] {1, 2, 3, 4}, ex.get(2L).features());
        assertEquals(1, ex.get(2L).label());
        assertArrayEquals(new float[] {0, 0, 0, 7}, ex.get(3L).features());
    }

    @Test
    void libsvmRegressionWithNumFeaturesAndSeveralFiles() throws IOException {
        write("d/part-1.txt", "3.5 1:1\n");
        write("d/part-0.txt", "-1.25 2:1\n0.5 1:2\n");
        FeatureTable t = FeatureSource.libsvm(dir.resolve("d").toString()).task(Task.REGRESSION).numFeatures(5).read(spark());
        assertEquals(5, t.numFeatures());
        assertEquals(1, t.numTargets());
        assertEquals(0, t.numClasses());
        TreeMap<Long, Ex> ex = examples(t);
        assertIdsDense(ex, 3);
        // files in path order: part-0 first
        assertArrayEquals(new float[] {-1.25f}, ex.get(0L).targets());
        assertArrayEquals(new float[] {0, 1, 0, 0, 0}, ex.get(0L).features());
        assertArrayEquals(new float[] {0.5f}, ex.get(1L).targets());
        assertArrayEquals(new float[] {3.5f}, ex.get(2L).targets());
    }

    @Test
    void libsvmIndexBeyondNumFeaturesNamesTheRow() throws IOException {
        String f = write("b.libsvm", "0 1:1\n1 2:1\n0 1:1 6:2\n");
        FeatureDataException e = fails(FeatureSource.libsvm(f).numFeatures(5));
        assertNames(e, "b.libsvm", 2, "features");
        assertTrue(e.getMessage().contains("expected 5 features, got 6"), e.getMessage());
    }

    /** Issue 11 case 8: Spark's own libsvm reader fails such a row with a NumberFormatException naming no row. */
    @Test
    void libsvmRowWithoutALabelNamesTheFileAndRow() throws IOException {
        String f = write("l.libsvm", "0 1:1\n1 2:1\n# a comment\n\n1:0.5 2:0.3\n0 1:2\n");
        FeatureDataException e = fails(FeatureSource.libsvm(f));
        assertNames(e, "l.libsvm", 2, "label");
        assertTrue(e.getMessage().contains("line 5") && e.getMessage().contains("no label") && e.getMessage().contains("1:0.5 2:0.3"),
                e.getMessage());

        String g = write("m.libsvm", "0 1:1 3:2\n1 3:1 2:1\n");
        FeatureDataException e2 = fails(FeatureSource.libsvm(g).numFeatures(4));
        assertNames(e2, "m.libsvm", 1, "features");
        assertTrue(e2.getMessage().contains("ascending"), e2.getMessage());
    }

    @Test
    void libsvmNonIntegerLabelAndNaNFeature() throws IOException {
        String f = write("c.libsvm", "0 1:1\n1.5 2:1\n");
        FeatureDataException e = fails(FeatureSource.libsvm(f));
        assertNames(e, "c.libsvm", 1, "label");
        assertTrue(e.getMessage().contains("not a whole number"), e.getMessage());

        String g = write("n.libsvm", "0 1:1\n1 2:1\n1 1:NaN\n");
        FeatureDataException e2 = fails(FeatureSource.libsvm(g));
        assertNames(e2, "n.libsvm", 2, "features");
        assertTrue(e2.getMessage().contains("feature 0 is NaN"), e2.getMessage());
    }

    // ---- parquet ----

    private static StructType vectorSchema() {
        return new StructType().add("features", SQLDataTypes.VectorType()).add("label", DataTypes.DoubleType)
                .add("other", DataTypes.StringType);
    }

    private String parquet(String name, StructType schema, List<Row> rows, int files) {
        String p = dir.resolve(name).toString();
        spark().createDataFrame(rows, schema).repartition(files).write().mode(SaveMode.Overwrite).parquet(p);
        return p;
    }

    private String parquetInOrder(String name, StructType schema, List<Row> rows) {
        String p = dir.resolve(name).toString();
        spark().createDataFrame(rows, schema).coalesce(1).write().mode(SaveMode.Overwrite).parquet(p);
        return p;
    }

    @Test
    void parquetDenseAndSparseVectors() {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            // feature 0 carries i so contents can be matched whatever the id order
            rows.add(RowFactory.create(i % 2 == 0 ? Vectors.dense(i, 0, -i * 0.5)
                    : Vectors.sparse(3, new int[] {0, 2}, new double[] {i, -i * 0.5}), (double) (i % 4), "x"));
        }
        String p = parquet("v.parquet", vectorSchema(), rows, 3);
        FeatureTable t = FeatureSource.parquet(p).blockSize(7).read(spark());
        assertEquals(3, t.numFeatures());
        assertEquals(4, t.numClasses());
        assertEquals(50, t.numRows());
        TreeMap<Long, Ex> ex = examples(t);
        assertIdsDense(ex, 50);
        Set<Integer> seen = new HashSet<>();
        for (Ex e : ex.values()) {
            int i = (int) e.features()[0];
            assertTrue(seen.add(i));
            assertArrayEquals(new float[] {i, 0, (float) (-i * 0.5)}, e.features());
            assertEquals(i % 4, e.label());
        }
        // the same read again: the same ids for the same rows
        TreeMap<Long, Ex> again = examples(FeatureSource.parquet(p).blockSize(50).read(spark()));
        for (long id = 0; id < 50; id++) assertArrayEquals(ex.get(id).features(), again.get(id).features());
    }

    @Test
    void parquetArrayColumnAndNumericColumnsRegression() {
        StructType s = new StructType().add("x1", DataTypes.IntegerType).add("x2", DataTypes.DoubleType)
                .add("y", DataTypes.FloatType).add("z", DataTypes.LongType).add("name", DataTypes.StringType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 20; i++) rows.add(RowFactory.create(i, i * 0.25, i * 2f, (long) -i, "r" + i));
        String p = parquetInOrder("cols.parquet", s, rows);
        FeatureTable t = FeatureSource.parquet(p).regression("y", "z").read(spark());
        assertEquals(2, t.numFeatures()); // x1, x2: the numeric columns besides the targets
        assertEquals(2, t.numTargets());
        TreeMap<Long, Ex> ex = examples(t);
        assertIdsDense(ex, 20);
        for (int i = 0; i < 20; i++) {
            assertArrayEquals(new float[] {i, i * 0.25f}, ex.get((long) i).features());
            assertArrayEquals(new float[] {i * 2f, -i}, ex.get((long) i).targets());
        }
        FeatureTable t2 = FeatureSource.parquet(p).featureColumns("x2").classification("x1").read(spark());
        assertEquals(1, t2.numFeatures());
        assertEquals(20, t2.numClasses());

        StructType sa = new StructType().add("features", DataTypes.createArrayType(DataTypes.DoubleType))
                .add("label", DataTypes.IntegerType);
        List<Row> arows = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            arows.add(RowFactory.create(scala.jdk.javaapi.CollectionConverters.asScala(List.of((double) i, 1.0)).toSeq(), i % 2));
        }
        FeatureTable ta = FeatureSource.parquet(parquetInOrder("arr.parquet", sa, arows)).read(spark());
        assertEquals(2, ta.numFeatures());
        TreeMap<Long, Ex> exa = examples(ta);
        assertArrayEquals(new float[] {5, 1}, exa.get(5L).features());
        assertEquals(1, exa.get(5L).label());
    }

    @Test
    void parquetWrongVectorSize() {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 5; i++) rows.add(RowFactory.create(Vectors.dense(1, 2, 3), 0.0, "x"));
        rows.add(RowFactory.create(Vectors.sparse(4, new int[] {1}, new double[] {1}), 1.0, "x"));
        String p = parquetInOrder("w.parquet", vectorSchema(), rows);
        FeatureDataException e = fails(FeatureSource.parquet(p));
        assertNames(e, "w.parquet", 5, "features");
        assertTrue(e.getMessage().contains("expected 3 features") && e.getMessage().contains("got 4"), e.getMessage());

        FeatureDataException e2 = fails(FeatureSource.parquet(p).numFeatures(3));
        assertNames(e2, "w.parquet", 5, "features");
        assertTrue(e2.getMessage().contains("expected 3 features, got 4"), e2.getMessage());
    }

    @Test
    void parquetBadFeaturesAndLabels() {
        String[] cases = {"inf", "negative", "fraction", "range", "nan"};
        for (String c : cases) {
            List<Row> rows = new ArrayList<>();
            for (int i = 0; i < 4; i++) rows.add(RowFactory.create(Vectors.dense(1, 2), (double) (i % 2), "x"));
            switch (c) {
                case "inf" -> rows.add(3, RowFactory.create(Vectors.dense(1, Double.POSITIVE_INFINITY), 0.0, "x"));
                case "nan" -> rows.add(3, RowFactory.create(Vectors.sparse(2, new int[] {1}, new double[] {Double.NaN}), 0.0, "x"));
                case "negative" -> rows.add(3, RowFactory.create(Vectors.dense(1, 2), -1.0, "x"));
                case "fraction" -> rows.add(3, RowFactory.create(Vectors.dense(1, 2), 0.5, "x"));
                default -> rows.add(3, RowFactory.create(Vectors.dense(1, 2), 2.0, "x"));
            }
            String p = parquetInOrder(c + ".parquet", vectorSchema(), rows);
            FeatureDataException e = fails(FeatureSource.parquet(p).numClasses(2));
            boolean feature = c.equals("inf") || c.equals("nan");
            assertNames(e, c + ".parquet", 3, feature ? "features" : "label");
            String m = e.getMessage();
            switch (c) {
                case "inf" -> assertTrue(m.contains("feature 1 is Infinity"), m);
                case "nan" -> assertTrue(m.contains("feature 1 is NaN"), m);
                case "negative" -> assertTrue(m.contains("negative"), m);
                case "fraction" -> assertTrue(m.contains("not a whole number"), m);
                default -> assertTrue(m.contains("out of range") && m.contains("numClasses is 2"), m);
            }
        }
    }

    @Test
    void missingColumnsListTheAvailableOnes() {
        List<Row> rows = List.of(RowFactory.create(Vectors.dense(1, 2), 0.0, "x"));
        String p = parquetInOrder("m.parquet", vectorSchema(), rows);
        FeatureDataException e = fails(FeatureSource.parquet(p).labelColumn("target"));
        assertTrue(e.getMessage().contains("no column 'target'"), e.getMessage());
        assertTrue(e.getMessage().contains("features") && e.getMessage().contains("label") && e.getMessage().contains("other"),
                e.getMessage());
        assertTrue(e.getMessage().contains(p), e.getMessage());
        FeatureDataException e2 = fails(FeatureSource.parquet(p).vectorColumn("vec"));
        assertTrue(e2.getMessage().contains("no column 'vec'") && e2.getMessage().contains("other"), e2.getMessage());
        FeatureDataException e3 = fails(FeatureSource.parquet(p).featureColumns("other"));
        assertTrue(e3.getMessage().contains("'other'") && e3.getMessage().contains("not numeric"), e3.getMessage());
    }

    // ---- CSV ----

    @Test
    void csvWrittenBySparkClassificationAndRegression() {
        StructType s = new StructType().add("a", DataTypes.DoubleType).add("b", DataTypes.IntegerType)
                .add("label", DataTypes.IntegerType).add("y", DataTypes.DoubleType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 30; i++) rows.add(RowFactory.create(i + 0.5, -i, i % 3, i * 1.5));
        String p = dir.resolve("c.csv").toString();
        spark().createDataFrame(rows, s).repartition(2).write().option("header", "true").csv(p);

        FeatureTable t = FeatureSource.csv(p).featureColumns("a", "b").read(spark());
        assertEquals(2, t.numFeatures());
        assertEquals(3, t.numClasses());
        TreeMap<Long, Ex> ex = examples(t);
        assertIdsDense(ex, 30);
        for (Ex e : ex.values()) {
            int i = (int) Math.floor(e.features()[0]);
            assertArrayEquals(new float[] {i + 0.5f, -i}, e.features());
            assertEquals(i % 3, e.label());
        }
        FeatureTable r = FeatureSource.csv(p).regression("y").read(spark());
        assertEquals(3, r.numFeatures()); // a, b, label
        for (Ex e : examples(r).values()) {
            int i = (int) Math.floor(e.features()[0]);
            assertArrayEquals(new float[] {i * 1.5f}, e.targets());
        }
    }

    /** The job's input.weightColumn: weights ride in the row blocks, the column is no feature, bad weights name file, row and column. */
    @Test
    void csvWeightColumn() throws IOException {
        String f = write("w.csv", "x,y,w,label\n1,2,0.5,0\n3,4,2,1\n5,6,0,1\n");
        FeatureTable t = FeatureSource.csv(f).weightColumn("w").read(spark());
        assertEquals(2, t.numFeatures(), "the weight column is not a feature");
        List<RowBlock> blocks = t.blocks().collect();
        List<Float> weights = new ArrayList<>();
        for (RowBlock b : blocks) for (float w : b.weights()) weights.add(w);
        assertEquals(List.of(0.5f, 2f, 0f), weights);
        assertEquals(null, FeatureSource.csv(f).read(spark()).blocks().first().weights());

        for (String bad : new String[] {"-1", "NaN", "Infinity", "", "1e39"}) {
            String g = write("bad-w" + Math.abs(bad.hashCode()) + ".csv", "x,y,w,label\n1,2,1,0\n3,4," + bad + ",1\n");
            FeatureDataException e = fails(FeatureSource.csv(g).weightColumn("w"));
            assertNames(e, "bad-w", 1, "w");
        }
        assertTrue(fails(FeatureSource.csv(f).weightColumn("weight")).getMessage().contains("no column 'weight'"));
    }

    @Test
    void csvHandWrittenBadValues() throws IOException {
        String f = write("bad.csv", "x,y,label\n1,2,0\n3,4,1\n5,abc,1\n7,8,0\n");
        FeatureDataException e = fails(FeatureSource.csv(f));
        assertNames(e, "bad.csv", 2, "y");
        assertTrue(e.getMessage().contains("non-numeric value 'abc'"), e.getMessage());

        String g = write("empty-cell.csv", "x,y,label\n1,2,0\n3,,1\n");
        assertNames(fails(FeatureSource.csv(g)), "empty-cell.csv", 1, "y");

        String h = write("label.csv", "x,y,label\n1,2,0\n3,4,1.0\n5,6,two\n");
        FeatureDataException eh = fails(FeatureSource.csv(h));
        assertNames(eh, "label.csv", 2, "label");

        String inf = write("inf.csv", "x,y,label\n1,Infinity,0\n");
        assertNames(fails(FeatureSource.csv(inf)), "inf.csv", 0, "y");
    }

    @Test
    void firstOffendingRowOfTheWholeInputIsReported() throws IOException {
        write("multi/part-a.csv", "x,label\n1,0\n2,0\n3,0\n4,-1\n");
        write("multi/part-b.csv", "x,label\n1,0\nzz,0\n");
        FeatureDataException e = fails(FeatureSource.csv(dir.resolve("multi").toString()));
        assertNames(e, "part-a.csv", 3, "label");
        assertTrue(e.getMessage().contains("example id 3"), e.getMessage());
    }

    @Test
    void missingAndEmptyInputsNameThePath() throws IOException {
        String missing = dir.resolve("nope").toString();
        FeatureDataException e = fails(FeatureSource.parquet(missing));
        assertTrue(e.getMessage().contains(missing) && e.getMessage().contains("does not exist"), e.getMessage());

        Path empty = Files.createDirectories(dir.resolve("emptydir"));
        FeatureDataException e2 = fails(FeatureSource.parquet(empty.toString()));
        assertTrue(e2.getMessage().contains(empty.toString()) && e2.getMessage().contains("empty"), e2.getMessage());

        String zero = write("zero.libsvm", "");
        FeatureDataException e3 = fails(FeatureSource.libsvm(zero));
        assertTrue(e3.getMessage().contains(zero) && e3.getMessage().contains("empty"), e3.getMessage());

        String header = write("header.csv", "x,label\n");
        FeatureDataException e4 = fails(FeatureSource.csv(header));
        assertTrue(e4.getMessage().contains(header) && e4.getMessage().contains("no rows"), e4.getMessage());

        String comments = write("comments.libsvm", "# nothing\n");
        FeatureDataException e5 = fails(FeatureSource.libsvm(comments));
        assertTrue(e5.getMessage().contains("no rows"), e5.getMessage());
    }

    // ---- ids and splits ----

    @Test
    void idsDoNotDependOnHowFilesAreSplit() throws IOException {
        StringBuilder sb = new StringBuilder("x0,x1,label\n");
        for (int i = 0; i < 3000; i++) sb.append(i).append(',').append(i % 7).append(',').append(i % 5).append('\n');
        String f = write("big.csv", sb.toString());
        FeatureTable whole = FeatureSource.csv(f).blockSize(100).read(spark());
        SparkSession s = spark();
        String old = s.conf().get("spark.sql.files.maxPartitionBytes");
        TreeMap<Long, Ex> pieces;
        int partitions;
        try {
            s.conf().set("spark.sql.files.maxPartitionBytes", "2048");
            FeatureTable split = FeatureSource.csv(f).blockSize(64).read(s);
            partitions = split.blocks().getNumPartitions();
            pieces = examples(split);
        } finally {
            s.conf().set("spark.sql.files.maxPartitionBytes", old);
        }
        assertTrue(partitions > 3, "the file was split into " + partitions + " partitions");
        TreeMap<Long, Ex> one = examples(whole);
        assertIdsDense(one, 3000);
        assertIdsDense(pieces, 3000);
        for (long id = 0; id < 3000; id++) {
            assertEquals((float) id, one.get(id).features()[0], "id = row index");
            assertArrayEquals(one.get(id).features(), pieces.get(id).features());
            assertEquals(one.get(id).label(), pieces.get(id).label());
        }
    }

    @Test
    void splitIsDeterministicDisjointAndComplete() throws IOException {
        StringBuilder sb = new StringBuilder("x,label\n");
        for (int i = 0; i < 1000; i++) sb.append(i).append(',').append(i % 2).append('\n');
        String f = write("s.csv", sb.toString());
        FeatureTable t = FeatureSource.csv(f).read(spark());
        FeatureSplit sp = t.split(0.2, 42);
        Set<Long> train = examples(sp.train()).keySet();
        Set<Long> held = examples(sp.heldOut()).keySet();
        assertEquals(1000, train.size() + held.size());
        Set<Long> both = new HashSet<>(train);
        both.retainAll(held);
        assertTrue(both.isEmpty(), "disjoint");
        assertEquals(held.size(), sp.heldOut().numRows());
        assertEquals(train.size(), sp.train().numRows());
        assertTrue(held.size() > 150 && held.size() < 250, "about 20% held out: " + held.size());
        for (long id : held) assertTrue(FeatureSplit.isHeldOut(id, 0.2, 42));
        // a rerun (new read, other block size) agrees; another seed differs
        FeatureSplit again = FeatureSource.csv(f).blockSize(33).read(spark()).split(0.2, 42);
        assertEquals(new HashSet<>(held), new HashSet<>(examples(again.heldOut()).keySet()));
        Set<Long> other = examples(t.split(0.2, 7).heldOut()).keySet();
        assertTrue(!other.equals(held));
        assertEquals(t.numClasses(), sp.heldOut().numClasses());
        assertNotNull(sp.train().toString());
        assertThrows(IllegalArgumentException.class, () -> t.split(1.5, 1));
        assertEquals(List.of(), new ArrayList<>(examples(t.split(0, 1).heldOut()).keySet()));
        assertEquals(Arrays.asList(0L, 1L), new ArrayList<>(examples(t.split(1, 1).heldOut()).keySet()).subList(0, 2));
    }
}
