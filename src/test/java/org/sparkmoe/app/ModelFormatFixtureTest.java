package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.job.MoEJob;
import org.sparkmoe.ml.MoEClassificationModel;
import org.sparkmoe.ml.MoEClassifier;
import org.sparkmoe.ml.MoELanguageModel;
import org.sparkmoe.ml.MoELanguageModelEstimator;
import org.sparkmoe.ml.MoERegressionModel;
import org.sparkmoe.ml.MoERegressor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * Models written by earlier versions keep loading: {@code src/test/resources/fixtures/<format>/} holds
 * a small model of each format as that version wrote it (the job's model directories for a language
 * model and a classifier, and the ML saves of the three models) with {@code expected.json}, the
 * outputs the model gave when it was written. The test loads every fixture and checks that it
 * still gives those outputs.
 *
 * <p>{@code -Dfixtures.record=DIR} writes the fixtures of the current version into {@code DIR}
 * instead (e.g. {@code src/test/resources/fixtures/v2}); the fixtures of older versions stay as
 * they are.
 */
class ModelFormatFixtureTest {
    /** The formats whose fixtures are read; add the new one when the format changes. */
    static final List<String> FORMATS = List.of("v1", "v2");
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /**
     * Relative tolerance: the fixtures are float32 models, and a change in how rows are grouped
     * into forward passes moves their outputs by float32 rounding (a few 1e-9 relative); a misread
     * format moves them by far more.
     */
    static final double TOL = 1e-6;

    static final List<String> LM_KEYS = List.of("task=lm", "model.vocabularySize=16", "model.context=2", "model.embeddingDim=4",
            "model.modelDim=6", "model.expertHiddenSize=5", "model.numExperts=4", "model.k=2", "engine.batchSize=64",
            "synthetic.documents=24", "synthetic.documentLength=10", "synthetic.domains=2", "input.partitions=2", "optim.maxSteps=2",
            "optim.warmupSteps=1", "checkpoint.interval=2", "heldout.fraction=0.25", "charts.enabled=false");
    static final List<String> CLASSIFICATION_KEYS = List.of("task=classification", "input.format=csv", "model.modelDim=6",
            "model.expertHiddenSize=5", "model.numExperts=4", "model.k=2", "engine.batchSize=32", "input.partitions=2", "optim.maxSteps=2",
            "optim.warmupSteps=1", "checkpoint.interval=2", "heldout.fraction=0.25", "charts.enabled=false");

    static SparkSession spark() {
        return SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
    }

    // ------------------------------------------------------------------ inputs (deterministic, built in code)

    static final StructType FEATURES = new StructType().add("id", DataTypes.LongType, false)
            .add("features", new VectorUDT(), false).add("label", DataTypes.DoubleType, false);

    /** Four features; class x0 > 0 ? (x1 > 0 ? 1 : 0) : (x2 > 0 ? 2 : 0); regression target x0 > 0 ? 2 x1 : -3 x2. */
    static Dataset<Row> features(int n, long seed, boolean classification) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double[] x = new double[4];
            for (int j = 0; j < 4; j++) x[j] = Math.rint(rnd.nextDouble(-1, 1) * 1000) / 1000;
            double y = classification ? (x[0] > 0 ? (x[1] > 0 ? 1 : 0) : (x[2] > 0 ? 2 : 0)) : (x[0] > 0 ? 2 * x[1] : -3 * x[2]);
            rows.add(RowFactory.create((long) i, Vectors.dense(x), y));
        }
        return spark().createDataFrame(rows, FEATURES).repartition(1);
    }

    static final StructType TEXT = new StructType().add("id", DataTypes.LongType, false).add("text", DataTypes.StringType, true);
    static final String[] WORDS = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "big", "red"};

    static Dataset<Row> documents(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder sb = new StringBuilder();
            int len = 3 + rnd.nextInt(8);
            for (int t = 0; t < len; t++) sb.append(t == 0 ? "" : " ").append(WORDS[(i % 2) * 6 + rnd.nextInt(6)]);
            rows.add(RowFactory.create((long) i, sb.toString()));
        }
        return spark().createDataFrame(rows, TEXT).repartition(1);
    }

    /** The classification job's CSV input (x0..x3, label). */
    static String csv(int n, long seed) {
        StringBuilder sb = new StringBuilder("x0,x1,x2,x3,label\n");
        for (Row r : features(n, seed, true).orderBy("id").collectAsList()) {
            double[] x = ((Vector) r.get(1)).toArray();
            sb.append(x[0]).append(',').append(x[1]).append(',').append(x[2]).append(',').append(x[3]).append(',')
                    .append((int) r.getDouble(2)).append('\n');
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ what each fixture is checked on

    record Job(int code, String out) {
    }

    static Job job(String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code;
        try (PrintStream ps = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            code = MoEJob.run(SparkTestContext.get(), ps, args);
        }
        return new Job(code, bytes.toString(StandardCharsets.UTF_8));
    }

    /** The evaluate command's metrics on a job model directory (the printed JSON object). */
    static Map<String, Object> jobEvaluation(Path model, String... more) throws IOException {
        List<String> args = new ArrayList<>(List.of("evaluate", "job.model=" + model));
        args.addAll(List.of(more));
        Job j = job(args.toArray(new String[0]));
        assertEquals(0, j.code(), j.out());
        String out = j.out();
        JsonNode m = JSON.readTree(out.substring(out.indexOf('{'), out.lastIndexOf('}') + 1));
        Map<String, Object> r = new LinkedHashMap<>();
        m.fields().forEachRemaining(e -> {
            if (e.getValue().isNumber()) r.put(e.getKey(), e.getValue().asDouble());
        });
        return r;
    }

    static List<List<Double>> column(Dataset<Row> scored, String col) {
        List<List<Double>> out = new ArrayList<>();
        for (Row r : scored.orderBy("id").select(col).collectAsList()) {
            Object v = r.get(0);
            List<Double> vals = new ArrayList<>();
            if (v instanceof Vector vec) for (double d : vec.toArray()) vals.add(d);
            else vals.add(((Number) v).doubleValue());
            out.add(vals);
        }
        return out;
    }

    static Map<String, Object> classificationOutputs(MoEClassificationModel m) {
        Dataset<Row> s = m.transform(features(12, 99, true));
        return Map.of("probability", column(s, "probability"), "prediction", column(s, "prediction"));
    }

    static Map<String, Object> regressionOutputs(MoERegressionModel m) {
        return Map.of("prediction", column(m.transform(features(12, 98, false)), "prediction"));
    }

    static Map<String, Object> languageModelOutputs(MoELanguageModel m) {
        Dataset<Row> s = m.transform(documents(8, 97));
        return Map.of("logLikelihood", column(s, "logLikelihood"), "numTargets", column(s, "numTargets"));
    }

    // ------------------------------------------------------------------ the check

    static Path fixtures(String format) throws URISyntaxException {
        return Path.of(ModelFormatFixtureTest.class.getResource("/fixtures/" + format).toURI());
    }

    @Test
    void everyStoredFormatLoadsAndGivesItsRecordedOutputs() throws Exception {
        String record = System.getProperty("fixtures.record");
        if (record != null && !record.isEmpty()) {
            write(Path.of(record));
            return;
        }
        for (String format : FORMATS) {
            Path dir = fixtures(format);
            JsonNode expected = JSON.readTree(dir.resolve("expected.json").toFile());
            Path csv = dir.resolve("data/classes.csv");
            check(format + " job-lm", expected.get("job-lm"), jobEvaluation(dir.resolve("job-lm")));
            check(format + " job-classification", expected.get("job-classification"),
                    jobEvaluation(dir.resolve("job-classification"), "input.format=csv", "input.path=" + csv));
            check(format + " ml-classification", expected.get("ml-classification"),
                    classificationOutputs(MoEClassificationModel.load(dir.resolve("ml-classification").toString())));
            check(format + " ml-regression", expected.get("ml-regression"),
                    regressionOutputs(MoERegressionModel.load(dir.resolve("ml-regression").toString())));
            check(format + " ml-lm", expected.get("ml-lm"),
                    languageModelOutputs(MoELanguageModel.load(dir.resolve("ml-lm").toString())));
        }
    }

    /** Mean -ln p(label) of a classification model's probabilities on {@link #features} rows. */
    static double logLoss(MoEClassificationModel m, Dataset<Row> rows) {
        double sum = 0;
        List<Row> scored = m.transform(rows).select("probability", "label").collectAsList();
        for (Row r : scored) sum -= Math.log(Math.max(((Vector) r.get(0)).apply((int) r.getDouble(1)), Double.MIN_NORMAL));
        return sum / scored.size();
    }

    /**
     * One format for both faces: the ML classes load the job's model directories and the job
     * evaluates the ML saves, and both faces compute the same numbers from the same model.
     */
    @Test
    void bothFacesReadBothFormatsAndAgree(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        for (String format : FORMATS) bothFacesAgree(fixtures(format), tmp.resolve(format));
    }

    private static void bothFacesAgree(Path dir, Path tmp) throws Exception {
        Files.createDirectories(tmp);
        Path csv = dir.resolve("data/classes.csv");
        Dataset<Row> rows = features(64, 5, true);

        double jobOnMl = (Double) jobEvaluation(dir.resolve("ml-classification"), "task=classification", "input.format=csv",
                "input.path=" + csv).get("logLoss");
        double mlOnMl = logLoss(MoEClassificationModel.load(dir.resolve("ml-classification").toString()), rows);
        assertEquals(mlOnMl, jobOnMl, 1e-6 * Math.abs(mlOnMl), "the job and the ML API on the ML save");

        double jobOnJob = (Double) jobEvaluation(dir.resolve("job-classification"), "input.format=csv", "input.path=" + csv).get("logLoss");
        double mlOnJob = logLoss(MoEClassificationModel.load(dir.resolve("job-classification").toString()), rows);
        assertEquals(jobOnJob, mlOnJob, 1e-6 * Math.abs(jobOnJob), "the job and the ML API on the job's model");

        MoELanguageModel lm = MoELanguageModel.load(dir.resolve("job-lm").toString());
        assertEquals(Files.readAllLines(dir.resolve("job-lm/vocabulary.txt")).size(), lm.vocabulary().size());
        Dataset<Row> docs = documents(8, 97);
        Path text = tmp.resolve("docs.txt");
        StringBuilder sb = new StringBuilder();
        for (Row r : docs.orderBy("id").collectAsList()) sb.append(r.getString(1)).append('\n');
        Files.writeString(text, sb.toString());
        MoELanguageModel mlLm = MoELanguageModel.load(dir.resolve("ml-lm").toString());
        double jobPpl = (Double) jobEvaluation(dir.resolve("ml-lm"), "task=lm", "input.path=" + text).get("perplexity");
        assertEquals(mlLm.perplexity(docs), jobPpl, 1e-6 * jobPpl, "the job and the ML API on the ML language model");
    }

    /**
     * One layout written: the job's models and the ML saves of the current version are the same
     * layout (spec.json of this version, parquet parameters), the ML saves with Spark's params
     * metadata beside it, the job's with its optimiser state.
     */
    @Test
    void bothFacesWriteTheCurrentLayout() throws Exception {
        Path dir = fixtures("v" + ModelDirectory.VERSION);
        SparkSession spark = spark();
        for (String m : List.of("job-lm", "job-classification", "ml-classification", "ml-regression", "ml-lm")) {
            ModelDirectory.Saved s = ModelDirectory.open(dir.resolve(m).toString(), spark).orElseThrow();
            assertEquals(ModelDirectory.Layout.V2, s.layout(), m);
            assertEquals(ModelDirectory.VERSION, JSON.readTree(dir.resolve(m).resolve(ModelDirectory.SPEC).toFile()).get("version").asInt(), m);
            try (Stream<Path> files = Files.list(dir.resolve(m).resolve(ModelDirectory.PARAMETERS))) {
                org.junit.jupiter.api.Assertions.assertTrue(files.anyMatch(f -> f.toString().endsWith(".parquet")), m + ": parquet parameters");
            }
            boolean ml = m.startsWith("ml-");
            assertEquals(ml, Files.isDirectory(dir.resolve(m).resolve(ModelDirectory.METADATA)), m + ": params metadata");
            assertEquals(!ml, !s.optimiserSlots().isEmpty(), m + ": optimiser state");
            assertEquals(m.endsWith("-lm"), Files.isRegularFile(dir.resolve(m).resolve(ModelDirectory.VOCABULARY)), m + ": vocabulary");
        }
        // the job's optimiser state reads back at the step it was saved at
        ModelDirectory.Saved job = ModelDirectory.open(dir.resolve("job-classification").toString(), spark).orElseThrow();
        assertEquals(job.step(), job.readState(spark).step());
        org.junit.jupiter.api.Assertions.assertTrue(job.step() > 0);
    }

    /** A model of a newer format version than this build reads is refused by both faces, naming the version. */
    @Test
    void aNewerFormatVersionIsRefused(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        spark(); // the ML reader takes the active session
        Path dir = fixtures("v" + ModelDirectory.VERSION);
        Path csv = dir.resolve("data/classes.csv");
        for (String m : List.of("job-classification", "ml-classification")) {
            Path copy = tmp.resolve(m);
            copyModel(dir.resolve(m), copy);
            Path spec = copy.resolve(ModelDirectory.SPEC);
            String newer = Files.readString(spec).replace("\"version\" : " + ModelDirectory.VERSION, "\"version\" : " + (ModelDirectory.VERSION + 1));
            org.junit.jupiter.api.Assertions.assertNotEquals(Files.readString(spec), newer);
            Files.writeString(spec, newer);
            String want = "version " + (ModelDirectory.VERSION + 1) + "; this version reads up to " + ModelDirectory.VERSION;
            RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                    () -> MoEClassificationModel.load(copy.toString()));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(want), e.getMessage());
            Job j = job("evaluate", "job.model=" + copy, "input.format=csv", "input.path=" + csv);
            org.junit.jupiter.api.Assertions.assertNotEquals(0, j.code(), j.out());
            org.junit.jupiter.api.Assertions.assertTrue(j.out().contains(want), j.out());
        }
    }

    /** Every number of {@code expected} equals the one at the same place in {@code actual} (within {@link #TOL}). */
    static void check(String what, JsonNode expected, Object actual) {
        JsonNode a = JSON.valueToTree(actual);
        compare(what, expected, a);
    }

    private static void compare(String where, JsonNode e, JsonNode a) {
        if (e.isNumber()) {
            if (!a.isNumber()) throw new AssertionError(where + ": expected " + e + ", got " + a);
            double x = e.asDouble(), y = a.asDouble();
            if (Math.abs(x - y) > TOL * Math.max(1, Math.abs(x))) throw new AssertionError(where + ": expected " + x + ", got " + y);
        } else if (e.isArray()) {
            assertEquals(e.size(), a.size(), where + ": length");
            for (int i = 0; i < e.size(); i++) compare(where + "[" + i + "]", e.get(i), a.get(i));
        } else if (e.isObject()) {
            e.fields().forEachRemaining(f -> {
                if (!a.has(f.getKey())) throw new AssertionError(where + ": missing " + f.getKey());
                compare(where + "." + f.getKey(), f.getValue(), a.get(f.getKey()));
            });
        }
    }

    // ------------------------------------------------------------------ recording

    private static void write(Path dir) throws Exception {
        Files.createDirectories(dir.resolve("data"));
        Path csv = dir.resolve("data/classes.csv");
        Files.writeString(csv, csv(64, 5));
        Path work = Files.createTempDirectory("fixtures");
        Map<String, Object> expected = new LinkedHashMap<>();

        Job lm = job(concat("train", LM_KEYS, "output.dir=" + work.resolve("lm")));
        assertEquals(0, lm.code(), lm.out());
        copyModel(work.resolve("lm/model"), dir.resolve("job-lm"));
        expected.put("job-lm", jobEvaluation(dir.resolve("job-lm")));

        // relative to the working directory (the repository root under Maven), so the recorded provenance points into the repository
        Path relativeCsv = Path.of("").toAbsolutePath().relativize(csv.toAbsolutePath());
        Job cl = job(concat("train", CLASSIFICATION_KEYS, "output.dir=" + work.resolve("cl"), "input.path=" + relativeCsv));
        assertEquals(0, cl.code(), cl.out());
        copyModel(work.resolve("cl/model"), dir.resolve("job-classification"));
        expected.put("job-classification", jobEvaluation(dir.resolve("job-classification"), "input.format=csv", "input.path=" + csv));

        MoEClassificationModel c = new MoEClassifier().setNumExperts(4).setK(2).setExpertHiddenSize(5).setModelDim(6)
                .setBatchSize(32).setMaxSteps(3).setSeed(7).fit(features(64, 1, true));
        c.write().save(dir.resolve("ml-classification").toString());
        expected.put("ml-classification", classificationOutputs(c));

        MoERegressionModel r = new MoERegressor().setGating("hierarchical").setNumGroups(2).setExpertsPerGroup(2).setKPrimary(1)
                .setKSecondary(2).setExpertHiddenSize(5).setModelDim(6).setBatchSize(32).setMaxSteps(3).setSeed(8)
                .fit(features(64, 2, false));
        r.write().save(dir.resolve("ml-regression").toString());
        expected.put("ml-regression", regressionOutputs(r));

        MoELanguageModel l = new MoELanguageModelEstimator().setVocabularySize(10).setContext(2).setEmbeddingDim(4).setModelDim(6)
                .setNumExperts(4).setK(2).setExpertHiddenSize(5).setBatchSize(64).setMaxSteps(3).setSeed(9).fit(documents(40, 3));
        l.write().save(dir.resolve("ml-lm").toString());
        expected.put("ml-lm", languageModelOutputs(l));

        dropChecksums(dir);
        Files.writeString(dir.resolve("expected.json"), JSON.writeValueAsString(expected));
        deleteTree(work);
    }

    private static String[] concat(String cmd, List<String> keys, String... more) {
        List<String> a = new ArrayList<>(List.of(cmd));
        a.addAll(keys);
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    /** The model directory without what a reader does not need (charts are off; summary and metrics are kept). */
    private static void copyModel(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
    }

    /** Hadoop's .crc side files: not needed to read, and they would pin the bytes of every file. */
    private static void dropChecksums(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".crc")).toList()) Files.delete(p);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
