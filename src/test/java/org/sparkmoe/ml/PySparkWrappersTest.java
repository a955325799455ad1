package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.regression.LinearRegression;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.data.Vocabulary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The PySpark wrappers cannot drift from the Java params: {@code src/main/python/sparkmoe/ml.py} must be
 * what {@link PySparkWrappers} generates from the current JVM classes ({@code -Dsettings.write=true}
 * rewrites it), and, read back from the Python source ({@code src/test/python/describe_wrappers.py},
 * Python's ast module; skipped without python3), every class must have exactly the Java params, with
 * their docs, converters and defaults, in keyword-only constructors and {@code setParams}.
 */
class PySparkWrappersTest {
    static final Path MODULE = Path.of(PySparkWrappers.MODULE);

    static List<PySparkWrappers.Stage> stages;

    /**
     * The stages, each a fresh instance (a model loaded from a save would report the defaults saved with
     * it, not its class's): the models are built around tiny networks.
     */
    @BeforeAll
    static void stages() {
        NetworkSpec classes = tiny(NetworkSpec.Task.CLASSIFICATION).outputs(2).build();
        NetworkSpec values = tiny(NetworkSpec.Task.REGRESSION).outputs(1).build();
        NetworkSpec words = tiny(NetworkSpec.Task.LANGUAGE_MODEL).vocabulary(4).context(1).embeddingDim(2).build();
        stages = List.of(
                stage(new MoEClassifier(), "Sparsely-gated mixture-of-experts classifier (Shazeer et al. 2017) trained data-parallel on"
                        + " Spark; labels are class indices 0 .. C-1", MoEClassificationModel.class),
                stage(new MoEClassificationModel("m", classes, classes.build().initialise(Precision.F32, 1)), "A fitted MoEClassifier:"
                        + " class probabilities, raw predictions and the predicted class (and each row's experts)", null),
                stage(new MoERegressor(), "Sparsely-gated mixture-of-experts regressor (Shazeer et al. 2017) trained data-parallel on"
                        + " Spark", MoERegressionModel.class),
                stage(new MoERegressionModel("m", values, values.build().initialise(Precision.F32, 1)), "A fitted MoERegressor: the"
                        + " predicted value (and each row's experts)", null),
                stage(new MoELanguageModelEstimator(), "Mixture-of-experts language model over a string column of documents; fits a"
                        + " MoELanguageModel", MoELanguageModel.class),
                stage(new MoELanguageModel("m", words, words.build().initialise(Precision.F32, 1), Vocabulary.of(List.of("a", "b"), null)),
                        "A fitted MoELanguageModelEstimator: per-document logLikelihood, numTargets and perplexity (and the most"
                        + " probable next word in predictionCol when set)", null),
                stage(new MoEPerplexityEvaluator(), "Corpus perplexity exp(-sum logLikelihood / sum numTargets) of MoELanguageModel"
                        + " outputs; smaller is better (for CrossValidator / TrainValidationSplit)", null));
        if (Boolean.getBoolean("settings.write")) {
            try {
                Files.writeString(MODULE, PySparkWrappers.module(stages));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    static NetworkSpec.Builder tiny(NetworkSpec.Task task) {
        return NetworkSpec.builder(task).inputDim(2).modelDim(2).experts(2).k(2).expertHidden(2);
    }

    static PySparkWrappers.Stage stage(Params instance, String summary, Class<?> model) {
        List<String> methods = PySparkWrappers.STAGES.get(instance.getClass().getSimpleName());
        assertNotNull(methods, instance.getClass().getSimpleName() + " is not in PySparkWrappers.STAGES");
        return new PySparkWrappers.Stage(instance, summary, model, methods);
    }

    @Test
    void theModuleIsWhatTheJavaClassesGenerate() throws IOException {
        String generated = PySparkWrappers.module(stages);
        assertEquals(generated, Files.readString(MODULE),
                MODULE + " is not what the JVM classes generate; rerun with -Dtest=PySparkWrappersTest -Dsettings.write=true");
    }

    @Test
    void thePythonClassesHaveTheJavaParams() throws Exception {
        JsonNode module = describe(MODULE);
        List<String> names = stages.stream().map(PySparkWrappers.Stage::name).toList();
        assertEquals(names, list(module.get("all")), "__all__");
        for (PySparkWrappers.Stage s : stages) {
            checkClass(module.get("classes"), s.instance(), s.model() != null || s.instance() instanceof MoEPerplexityEvaluator);
        }
    }

    /**
     * The generator follows the MLlib base class: MLlib's own LogisticRegression comes out as a pyspark
     * {@code _JavaProbabilisticClassifier} with {@code HasWeightCol} and friends, not redeclaring what
     * those declare, and its model as a {@code _JavaProbabilisticClassificationModel}; the generated
     * Python then has exactly the Java params (what MoEClassifier gets once it is a ProbabilisticClassifier).
     */
    @Test
    void mllibBasesAndSharedParamsComeFromPyspark() throws Exception {
        LogisticRegression lr = new LogisticRegression();
        LogisticRegressionModel lrm = new LogisticRegressionModel("lrm", Vectors.dense(1, 2), 0.5);
        LinearRegression linear = new LinearRegression();
        List<PySparkWrappers.Stage> mllib = List.of(
                new PySparkWrappers.Stage(lr, "MLlib's logistic regression", LogisticRegressionModel.class, List.of()),
                new PySparkWrappers.Stage(lrm, "its model", null, List.of()),
                new PySparkWrappers.Stage(linear, "MLlib's linear regression", org.apache.spark.ml.regression.LinearRegressionModel.class,
                        List.of()));
        String py = PySparkWrappers.module(mllib);
        assertTrue(py.contains("class LogisticRegression(\n    _JavaProbabilisticClassifier[\"LogisticRegressionModel\"],"), py);
        assertTrue(py.contains("class LogisticRegressionModel(\n    _JavaProbabilisticClassificationModel,"), py);
        assertTrue(py.contains("class LinearRegression(\n    _JavaRegressor[\"LinearRegressionModel\"],"), py);
        assertTrue(py.contains("from pyspark.ml.param.shared import ") && py.contains("HasWeightCol"), py);
        for (String fromPyspark : List.of("thresholds", "probabilityCol", "rawPredictionCol", "weightCol", "featuresCol")) {
            assertFalse(py.contains("    " + fromPyspark + ": \"Param["), fromPyspark + " is pyspark's, not redeclared");
        }
        Path dir = Files.createTempDirectory("mllib-wrappers");
        Path file = dir.resolve("mllib_wrappers.py");
        try {
            Files.writeString(file, py);
            JsonNode module = describe(file);
            checkClass(module.get("classes"), lr, true);
            checkClass(module.get("classes"), lrm, false);
            checkClass(module.get("classes"), linear, true);
            // and it imports (the bases linearise) and works over the stand-in pyspark
            String out = python(Path.of("."), "-c", String.join("\n",
                    "import sys",
                    "sys.path[:0] = ['src/test/python/pyspark_stand_in', 'src/main/python', '" + dir + "']",
                    "from pyspark.ml.wrapper import FAKE_JVM",
                    "FAKE_JVM.new = lambda cls, uid: cls",
                    "import mllib_wrappers as m",
                    "lr = m.LogisticRegression(maxIter=5, weightCol='w')",
                    "assert lr._java_obj == 'org.apache.spark.ml.classification.LogisticRegression'",
                    "assert (lr.getMaxIter(), lr.getWeightCol(), lr.getRegParam()) == (5, 'w', 0.0), lr.getRegParam()",
                    "assert lr.setThresholds([0.4, 0.6]).getThresholds() == [0.4, 0.6]",
                    "assert lr.setProbabilityCol('p').getProbabilityCol() == 'p'",
                    "assert m.LogisticRegressionModel().getProbabilityCol() == 'probability'",
                    "assert m.LinearRegression(solver='normal').getSolver() == 'normal'",
                    "print('mllib wrappers OK')"));
            assertTrue(out.contains("mllib wrappers OK"), out);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /** The wrappers imported and driven over a stand-in pyspark and fake JVM objects (src/test/python/test_wrappers_offline.py). */
    @Test
    void theWrappersRunOverAStandInPyspark() throws Exception {
        String out = python(Path.of("src/test/python"), "-m", "unittest", "-v", "test_wrappers_offline");
        System.out.println(out);
        assertTrue(out.contains("OK"), out);
    }

    /** Runs python3 (no bytecode files) in {@code dir}; its output; fails unless it exits 0 (skipped without python3). */
    static String python(Path dir, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("python3", "-B"));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("PYTHONDONTWRITEBYTECODE", "1");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            Assumptions.abort("python3 is not available: " + e.getMessage());
            return "";
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "python3 " + String.join(" ", args) + " did not finish");
        assertEquals(0, p.exitValue(), "python3 " + String.join(" ", args) + " failed:\n" + out);
        return out;
    }

    // ------------------------------------------------------------------ the Python side, read back

    /** describe_wrappers.py's JSON of a module (the test is skipped without python3). */
    static JsonNode describe(Path module) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder("python3", "-B", "src/test/python/describe_wrappers.py", module.toString()).start();
        } catch (IOException e) {
            Assumptions.abort("python3 is not available: " + e.getMessage());
            return null;
        }
        byte[] out = p.getInputStream().readAllBytes();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "describe_wrappers.py did not finish");
        assertEquals(0, p.exitValue(), "describe_wrappers.py failed (is " + module + " valid Python?):\n" + err);
        return new ObjectMapper().readTree(out);
    }

    /** The class of {@code stage} in the described module against the Java params. */
    static void checkClass(JsonNode classes, Params stage, boolean constructible) {
        String name = stage.getClass().getSimpleName();
        JsonNode c = classes.get(name);
        assertNotNull(c, name + " is not in the module");
        Map<String, Param<?>> java = new TreeMap<>();
        for (Param<?> p : stage.params()) java.put(p.name(), p);

        // the params: declared by the class or its in-module mixins, or by the pyspark bases it names
        Map<String, JsonNode> declared = new LinkedHashMap<>();
        Set<String> fromPyspark = new TreeSet<>();
        Set<String> setters = new TreeSet<>();
        Set<String> getters = new TreeSet<>();
        collect(classes, name, declared, fromPyspark, setters, getters);
        Set<String> python = new TreeSet<>(declared.keySet());
        python.addAll(fromPyspark);
        assertEquals(java.keySet(), python, name + ": the Python params (declared " + declared.keySet() + ", pyspark's " + fromPyspark + ")");
        for (Map.Entry<String, JsonNode> d : declared.entrySet()) {
            Param<?> p = java.get(d.getKey());
            assertEquals(p.name(), d.getValue().get("name").asText(), name + "." + d.getKey() + " name");
            assertEquals(p.doc(), d.getValue().get("doc").asText(), name + "." + d.getKey() + " doc");
            assertEquals(PySparkWrappers.pythonType(stage, p)[1], d.getValue().get("converter").asText(), name + "." + d.getKey() + " converter");
            assertTrue(getters.contains("get" + PySparkWrappers.cap(p.name())), name + ": no getter for " + p.name());
        }
        // a setter wherever Java has one
        for (String s : PySparkWrappers.javaSetters(stage.getClass())) {
            if (java.containsKey(s)) assertTrue(setters.contains("set" + PySparkWrappers.cap(s)), name + ": no set" + PySparkWrappers.cap(s));
        }
        // the Java defaults, on the Python side
        Map<String, Object> defaults = new TreeMap<>();
        for (Param<?> p : java.values()) {
            if (stage.getDefault(p).isDefined()) defaults.put(p.name(), stage.getDefault(p).get());
        }
        JsonNode setDefault = c.get("setDefault");
        assertNotNull(setDefault, name + ": no _setDefault in __init__");
        assertEquals(defaults.keySet(), fieldNames(setDefault), name + ": _setDefault");
        defaults.forEach((k, v) -> assertSameValue(v, setDefault.get(k), name + " default of " + k));
        if (!constructible) return;

        // keyword_only __init__ and setParams, every param with its Java default (None when it has none)
        assertEquals(stage.getClass().getName(), c.path("java_class").asText(), name + ": the JVM class it creates");
        for (String method : List.of("__init__", "setParams")) {
            JsonNode sig = c.get(method);
            assertNotNull(sig, name + "." + method);
            assertTrue(sig.get("keyword_only").asBoolean(), name + "." + method + " is not @keyword_only");
            assertEquals(List.of("self"), list(sig.get("positional")), name + "." + method + " takes positional arguments");
            assertFalse(sig.get("varargs").asBoolean(), name + "." + method + " takes *args / **kwargs");
            assertEquals(java.keySet(), fieldNames(sig.get("kwonly")), name + "." + method + " keyword arguments");
            for (Param<?> p : java.values()) {
                JsonNode d = sig.get("kwonly").get(p.name());
                if (stage.getDefault(p).isDefined()) {
                    assertSameValue(stage.getDefault(p).get(), d, name + "." + method + "(" + p.name() + "=...)");
                } else {
                    assertTrue(d.isNull(), name + "." + method + "(" + p.name() + "=None): " + d);
                }
            }
        }
    }

    /** Params, setters and getters of a class and its in-module bases; what its pyspark bases declare into {@code fromPyspark}. */
    static void collect(JsonNode classes, String name, Map<String, JsonNode> declared, Set<String> fromPyspark, Set<String> setters,
                        Set<String> getters) {
        JsonNode c = classes.get(name);
        c.get("params").fields().forEachRemaining(e -> declared.putIfAbsent(e.getKey(), e.getValue()));
        c.get("setters").forEach(s -> setters.add(s.asText()));
        c.get("getters").forEach(s -> getters.add(s.asText()));
        for (JsonNode b : c.get("bases")) {
            String base = b.asText().replaceFirst("\\[.*]$", "");
            if (classes.has(base)) {
                collect(classes, base, declared, fromPyspark, setters, getters);
                continue;
            }
            for (PySparkWrappers.Base pb : PySparkWrappers.BASES) {
                if (pb.python().equals(base)) {
                    fromPyspark.addAll(pb.params());
                    setters.addAll(pb.setters());
                    pb.params().forEach(p -> getters.add("get" + PySparkWrappers.cap(p)));
                }
            }
            if (base.startsWith("Has") && PySparkWrappers.PYSPARK_SHARED.contains(base)) {
                String param = Character.toLowerCase(base.charAt(3)) + base.substring(4);
                fromPyspark.add(param);
                getters.add("get" + PySparkWrappers.cap(param));
            }
        }
    }

    static void assertSameValue(Object java, JsonNode python, String what) {
        if (java instanceof String s) {
            assertEquals(s, python.asText(), what);
        } else if (java instanceof Boolean b) {
            assertTrue(python.isBoolean() && python.asBoolean() == b, what + ": " + python);
        } else if (java instanceof Double || java instanceof Float) {
            double d = ((Number) java).doubleValue();
            if (Double.isNaN(d)) assertEquals("NaN", python.asText(), what);
            else assertTrue(python.isNumber() && python.asDouble() == d, what + ": " + python + " vs " + d);
        } else if (java instanceof Number n) {
            assertTrue(python.isIntegralNumber() && python.asLong() == n.longValue(), what + ": " + python + " vs " + n);
        } else if (java instanceof double[] a) {
            assertEquals(a.length, python.size(), what);
            for (int i = 0; i < a.length; i++) assertSameValue(a[i], python.get(i), what + "[" + i + "]");
        } else {
            assertEquals(PySparkWrappers.literal(java), python.toString(), what);
        }
    }

    static Set<String> fieldNames(JsonNode o) {
        Set<String> out = new TreeSet<>();
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) out.add(it.next());
        return out;
    }

    static List<String> list(JsonNode a) {
        List<String> out = new ArrayList<>();
        a.forEach(n -> out.add(n.asText()));
        return out;
    }
}
