package org.sparkmoe.ml;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleArrayParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.FloatParam;
import org.apache.spark.ml.param.IntArrayParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.param.StringArrayParam;
import org.sparkmoe.app.Settings;

/**
 * Writes the PySpark wrappers, {@code src/main/python/sparkmoe/ml.py}, from the JVM stages themselves,
 * so that the two cannot drift: one pyspark.ml class per JVM class, on the pyspark base that mirrors the
 * JVM class's MLlib base ({@code ProbabilisticClassifier} -> {@code _JavaProbabilisticClassifier},
 * {@code Regressor} -> {@code _JavaRegressor}, {@code Estimator} -> {@code JavaEstimator},
 * {@code Evaluator} -> {@code JavaEvaluator}, ...) and the pyspark shared-param mixin of every MLlib
 * shared param it implements ({@code HasWeightCol} -> {@code HasWeightCol}); every other Java param
 * becomes a typed pyspark {@code Param} (name, doc and {@code TypeConverters} from the Java param and its
 * getter) with a getter, and a setter where the Java class has one. Constructors and {@code setParams}
 * are {@code keyword_only} with the Java defaults in their signatures, and every class's docstring lists
 * its params; the defaults are also set on the Python side ({@code _setDefault}), so that pyspark, which
 * sends Python defaults to the JVM, never replaces a Java default. The Java docs of our params are the
 * declared ones ({@link Settings}). What is not a param (distributed experts, perplexity, vocabulary) is
 * hand-written in {@code sparkmoe/_base.py}, named per class in {@link #STAGES}.
 *
 * <p>{@code PySparkWrappersTest} checks that the file is what this produces from the current Java classes
 * ({@code -Dsettings.write=true} rewrites it) and, independently, parses the Python to compare its params,
 * signatures and defaults with the Java ones.
 */
final class PySparkWrappers {
    static final String MODULE = "src/main/python/sparkmoe/ml.py";

    private PySparkWrappers() {
    }

    /**
     * One wrapped JVM stage: an instance (its params and defaults are read from it), a line saying what it
     * is, the fitted model's class for an estimator, and the hand-written mixins of {@code sparkmoe._base}.
     */
    record Stage(Params instance, String summary, Class<?> model, List<String> methods) {
        Class<?> type() {
            return instance.getClass();
        }

        String name() {
            return type().getSimpleName();
        }
    }

    /** The hand-written part of each class (see {@code sparkmoe/_base.py}), by JVM class. */
    static final Map<String, List<String>> STAGES = Map.of(
            "MoEClassifier", List.of(),
            "MoEClassificationModel", List.of("_MoEModelMethods", "_FeatureModelMethods", "_ClassificationModelMethods"),
            "MoERegressor", List.of(),
            "MoERegressionModel", List.of("_MoEModelMethods", "_FeatureModelMethods"),
            "MoELanguageModelEstimator", List.of(),
            "MoELanguageModel", List.of("_MoEModelMethods", "_LanguageModelMethods"),
            "MoEPerplexityEvaluator", List.of());

    /**
     * A pyspark base for an MLlib base class: its module, the params it (with its own bases) declares and
     * the setters it defines. Checked from the most specific MLlib class down.
     */
    record Base(String sparkClass, String python, String module, List<String> params, List<String> setters) {
    }

    static final List<String> PREDICTOR = List.of("featuresCol", "labelCol", "predictionCol");
    static final List<String> CLASSIFIER = List.of("featuresCol", "labelCol", "predictionCol", "rawPredictionCol");
    static final List<String> PROBABILISTIC = List.of("featuresCol", "labelCol", "predictionCol", "rawPredictionCol", "probabilityCol",
            "thresholds");

    static final List<Base> BASES = List.of(
            new Base("org.apache.spark.ml.classification.ProbabilisticClassifier", "_JavaProbabilisticClassifier",
                    "pyspark.ml.classification", PROBABILISTIC, setters(PROBABILISTIC)),
            new Base("org.apache.spark.ml.classification.ProbabilisticClassificationModel", "_JavaProbabilisticClassificationModel",
                    "pyspark.ml.classification", PROBABILISTIC, without(setters(PROBABILISTIC), "setLabelCol")),
            new Base("org.apache.spark.ml.classification.Classifier", "_JavaClassifier", "pyspark.ml.classification", CLASSIFIER,
                    setters(CLASSIFIER)),
            new Base("org.apache.spark.ml.classification.ClassificationModel", "_JavaClassificationModel", "pyspark.ml.classification",
                    CLASSIFIER, without(setters(CLASSIFIER), "setLabelCol")),
            new Base("org.apache.spark.ml.regression.Regressor", "_JavaRegressor", "pyspark.ml.regression", PREDICTOR, setters(PREDICTOR)),
            new Base("org.apache.spark.ml.regression.RegressionModel", "_JavaRegressionModel", "pyspark.ml.regression", PREDICTOR,
                    without(setters(PREDICTOR), "setLabelCol")),
            new Base("org.apache.spark.ml.Predictor", "JavaPredictor", "pyspark.ml.wrapper", PREDICTOR, setters(PREDICTOR)),
            new Base("org.apache.spark.ml.PredictionModel", "JavaPredictionModel", "pyspark.ml.wrapper", PREDICTOR,
                    without(setters(PREDICTOR), "setLabelCol")),
            new Base("org.apache.spark.ml.Estimator", "JavaEstimator", "pyspark.ml.wrapper", List.of(), List.of()),
            new Base("org.apache.spark.ml.Model", "JavaModel", "pyspark.ml.wrapper", List.of(), List.of()),
            new Base("org.apache.spark.ml.Transformer", "JavaTransformer", "pyspark.ml.wrapper", List.of(), List.of()),
            new Base("org.apache.spark.ml.evaluation.Evaluator", "JavaEvaluator", "pyspark.ml.evaluation", List.of(), List.of()));

    /** MLlib shared-param traits that pyspark.ml.param.shared has under the same name (param + getter, no setter). */
    static final Set<String> PYSPARK_SHARED = Set.of("HasMaxIter", "HasRegParam", "HasFeaturesCol", "HasLabelCol", "HasPredictionCol",
            "HasProbabilityCol", "HasRawPredictionCol", "HasInputCol", "HasInputCols", "HasOutputCol", "HasOutputCols", "HasNumFeatures",
            "HasCheckpointInterval", "HasSeed", "HasTol", "HasRelativeError", "HasStepSize", "HasHandleInvalid", "HasElasticNetParam",
            "HasFitIntercept", "HasStandardization", "HasThresholds", "HasThreshold", "HasWeightCol", "HasSolver", "HasVarianceCol",
            "HasAggregationDepth", "HasParallelism", "HasCollectSubModels", "HasLoss", "HasDistanceMeasure", "HasValidationIndicatorCol",
            "HasBlockSize", "HasMaxBlockSizeInMB");

    private static List<String> setters(List<String> params) {
        return params.stream().map(p -> "set" + cap(p)).toList();
    }

    private static List<String> without(List<String> list, String drop) {
        return list.stream().filter(s -> !s.equals(drop)).toList();
    }

    static Base base(Class<?> type) {
        for (Base b : BASES) {
            try {
                if (Class.forName(b.sparkClass()).isAssignableFrom(type)) return b;
            } catch (ClassNotFoundException e) {
                // not in this Spark line
            }
        }
        throw new IllegalArgumentException(type.getName() + " is not an MLlib stage pyspark can wrap");
    }

    /** The pyspark.ml.param.shared mixins for the MLlib shared params {@code type} implements, with their param names. */
    static Map<String, Set<String>> sharedMixins(Class<?> type) {
        Map<String, Set<String>> out = new LinkedHashMap<>();
        for (Class<?> i : interfaces(type)) {
            if (!i.getPackageName().equals("org.apache.spark.ml.param.shared") || !PYSPARK_SHARED.contains(i.getSimpleName())) continue;
            Set<String> names = new TreeSet<>();
            for (Method m : i.getDeclaredMethods()) {
                if (m.getParameterCount() == 0 && Param.class.isAssignableFrom(m.getReturnType())) names.add(m.getName());
            }
            out.put(i.getSimpleName(), names);
        }
        return out;
    }

    private static Set<Class<?>> interfaces(Class<?> type) {
        Set<Class<?>> out = new LinkedHashSet<>();
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) collect(i, out);
        }
        return out;
    }

    private static void collect(Class<?> i, Set<Class<?>> out) {
        if (out.add(i)) for (Class<?> s : i.getInterfaces()) collect(s, out);
    }

    /** One Java param as the Python side declares it. */
    record PyParam(String name, String doc, String type, String converter, Object javaDefault, boolean hasDefault) {
        /** The same declaration (shared by two classes' params mixins). */
        boolean sameAs(PyParam o) {
            return name.equals(o.name) && doc.equals(o.doc) && converter.equals(o.converter) && hasDefault == o.hasDefault
                    && Objects.equals(literal(javaDefault), literal(o.javaDefault));
        }
    }

    /** A stage's Java params as Python declares them, in documentation order (Settings' order, then by name). */
    static List<PyParam> params(Params stage) {
        List<String> order = new ArrayList<>();
        Settings.all().forEach(s -> order.add(s.name()));
        Settings.evaluatorParams().forEach(s -> order.add(s.name()));
        List<PyParam> out = new ArrayList<>();
        for (Param<?> p : stage.params()) {
            String[] t = pythonType(stage, p);
            boolean has = stage.getDefault(p).isDefined();
            out.add(new PyParam(p.name(), p.doc(), t[0], t[1], has ? stage.getDefault(p).get() : null, has));
        }
        out.sort(Comparator.comparingInt((PyParam p) -> order.contains(p.name()) ? order.indexOf(p.name()) : order.size())
                .thenComparing(PyParam::name));
        return out;
    }

    /** {Python type, TypeConverters method} of a param, from its getter's return type (else the Param class). */
    static String[] pythonType(Params stage, Param<?> p) {
        Class<?> t = null;
        try {
            t = stage.getClass().getMethod("get" + cap(p.name())).getReturnType();
        } catch (NoSuchMethodException e) {
            // no getter: the Param class says
        }
        if (t == int.class || t == Integer.class || t == long.class || t == Long.class || p instanceof IntParam || p instanceof LongParam) {
            return new String[] {"int", "toInt"};
        }
        if (t == double.class || t == Double.class || t == float.class || p instanceof DoubleParam || p instanceof FloatParam) {
            return new String[] {"float", "toFloat"};
        }
        if (t == boolean.class || t == Boolean.class || p instanceof BooleanParam) return new String[] {"bool", "toBoolean"};
        if (t == double[].class || p instanceof DoubleArrayParam) return new String[] {"List[float]", "toListFloat"};
        if (t == int[].class || p instanceof IntArrayParam) return new String[] {"List[int]", "toListInt"};
        if (t == String[].class || p instanceof StringArrayParam) return new String[] {"List[str]", "toListString"};
        if (t != null && org.apache.spark.ml.linalg.Vector.class.isAssignableFrom(t)) return new String[] {"Vector", "toVector"};
        if (t != null && org.apache.spark.ml.linalg.Matrix.class.isAssignableFrom(t)) return new String[] {"Matrix", "toMatrix"};
        if (t == String.class || stage.getDefault(p).isDefined() && stage.getDefault(p).get() instanceof String) {
            return new String[] {"str", "toString"};
        }
        throw new IllegalArgumentException(stage.getClass().getSimpleName() + "." + p.name() + ": no Python type for " + p.getClass().getName()
                + (t == null ? "" : " / " + t.getName()));
    }

    /** What the pyspark side provides for a stage: its base's params and the shared mixins' params. */
    static Set<String> provided(Class<?> type) {
        Set<String> out = new TreeSet<>(base(type).params());
        sharedMixins(type).values().forEach(out::addAll);
        return out;
    }

    /** The Python module for these stages (estimators with their models, and evaluators). */
    static String module(List<Stage> stages) {
        Py py = new Py();
        Map<String, Stage> byName = new LinkedHashMap<>();
        stages.forEach(s -> byName.put(s.name(), s));

        // the params each class declares itself (not its pyspark base's or mixins')
        Map<String, List<PyParam>> own = new LinkedHashMap<>();
        for (Stage s : stages) {
            Set<String> provided = provided(s.type());
            own.put(s.name(), params(s.instance()).stream().filter(p -> !provided.contains(p.name())).toList());
        }
        // one params mixin per estimator and its model when they declare the same, else one each
        Map<String, String> mixinOf = new LinkedHashMap<>();
        Map<String, List<PyParam>> mixins = new LinkedHashMap<>();
        for (Stage s : stages) {
            if (mixinOf.containsKey(s.name())) continue;
            String mixin = "_" + s.name() + "Params";
            mixins.put(mixin, own.get(s.name()));
            mixinOf.put(s.name(), mixin);
            if (s.model() != null && same(own.get(s.name()), own.get(s.model().getSimpleName()))) {
                mixinOf.put(s.model().getSimpleName(), mixin);
            }
        }
        // the params every estimator/model mixin declares alike go into one shared mixin
        Set<String> moeMixins = new LinkedHashSet<>();
        for (Stage s : stages) {
            if (s.model() != null || isModel(stages, s)) moeMixins.add(mixinOf.get(s.name()));
        }
        List<List<PyParam>> moe = moeMixins.stream().map(mixins::get).toList();
        List<PyParam> shared = moe.size() < 2 ? List.of() : moe.get(0).stream()
                .filter(p -> moe.stream().allMatch(l -> l.stream().anyMatch(p::sameAs))).toList();
        Set<String> sharedNames = shared.stream().map(PyParam::name).collect(Collectors.toSet());
        // setters: on a mixin when every class using it has the Java setter
        Map<String, Set<String>> javaSetters = new LinkedHashMap<>();
        for (Stage s : stages) javaSetters.put(s.name(), javaSetters(s.type()));

        py.line("# GENERATED by org.sparkmoe.ml.PySparkWrappers (src/test/java) from the JVM classes of org.sparkmoe.ml: do not edit.");
        py.line("# Regenerate: mvn -o -q test -Dtest=PySparkWrappersTest -Dsettings.write=true");
        py.line("\"\"\"PySpark wrappers of the spark-moe Spark ML stages (JVM package org.sparkmoe.ml).");
        py.blank();
        py.text(MODULE_DOC);
        py.line("\"\"\"");
        py.blank();
        py.line("import sys");
        py.line("from typing import Any, List, Optional, TypeVar");
        py.blank();
        py.line("from pyspark import keyword_only");
        Map<String, Set<String>> imports = new LinkedHashMap<>();
        imports.computeIfAbsent("pyspark.ml.param", k -> new TreeSet<>()).addAll(List.of("Param", "Params", "TypeConverters"));
        for (Stage s : stages) {
            Base b = base(s.type());
            imports.computeIfAbsent(b.module(), k -> new TreeSet<>()).add(b.python());
            for (String m : sharedMixins(s.type()).keySet()) {
                if (!b.params().containsAll(sharedMixins(s.type()).get(m))) {
                    imports.computeIfAbsent("pyspark.ml.param.shared", k -> new TreeSet<>()).add(m);
                }
            }
        }
        for (Stage s : stages) {
            for (PyParam p : params(s.instance())) {
                if (p.type().equals("Vector") || p.type().equals("Matrix")) {
                    imports.computeIfAbsent("pyspark.ml.linalg", k -> new TreeSet<>()).add(p.type());
                }
            }
        }
        for (String module : new TreeSet<>(imports.keySet())) {
            py.line("from " + module + " import " + String.join(", ", imports.get(module)));
        }
        Set<String> methods = new TreeSet<>(List.of("_MoEJavaStage"));
        stages.forEach(s -> methods.addAll(s.methods()));
        py.line("from sparkmoe._base import JAVA_PACKAGE, " + String.join(", ", methods));
        py.blank();
        py.line("__all__ = [" + stages.stream().map(s -> str(s.name())).collect(Collectors.joining(", ")) + "]");
        py.blank();
        py.line("P = TypeVar(\"P\", bound=Params)");

        Map<String, Set<String>> mixinSetters = new LinkedHashMap<>();
        Set<String> mixinExtendsShared = new LinkedHashSet<>();
        Set<String> sharedSetters = new TreeSet<>();
        if (!shared.isEmpty()) {
            Set<String> setters = sharedSetters;
            for (PyParam p : shared) {
                if (stages.stream().filter(s -> s.model() != null || isModel(stages, s)).allMatch(s -> javaSetters.get(s.name()).contains(p.name()))) {
                    setters.add(p.name());
                }
            }
            mixin(py, "_MoEParams", "Params", "The params the MoE estimators and models share.", shared, setters);
        }
        for (Map.Entry<String, List<PyParam>> m : mixins.entrySet()) {
            List<String> users = mixinOf.entrySet().stream().filter(e -> e.getValue().equals(m.getKey())).map(Map.Entry::getKey).toList();
            boolean moeMixin = !shared.isEmpty() && moeMixins.contains(m.getKey());
            List<PyParam> declared = m.getValue().stream().filter(p -> !moeMixin || !sharedNames.contains(p.name())).toList();
            Set<String> setters = new TreeSet<>();
            for (PyParam p : declared) {
                if (users.stream().allMatch(u -> javaSetters.get(u).contains(p.name()))) setters.add(p.name());
            }
            mixinSetters.put(m.getKey(), setters);
            if (moeMixin) mixinExtendsShared.add(m.getKey());
            mixin(py, m.getKey(), moeMixin ? "_MoEParams" : "Params", "Params of " + String.join(" and ", users) + ".", declared, setters);
        }
        for (Stage s : stages) {
            List<PyParam> all = params(s.instance());
            Base b = base(s.type());
            String mixin = mixinOf.get(s.name());
            // setters the base and the params mixins do not define: pyspark's shared params (a getter only) and
            // our params whose setter the other class sharing the mixin lacks
            Set<String> classSetters = new TreeSet<>();
            for (PyParam p : all) {
                String setter = "set" + cap(p.name());
                if (javaSetters.get(s.name()).contains(p.name()) && !b.setters().contains(setter)
                        && !mixinSetters.getOrDefault(mixin, Set.of()).contains(p.name())
                        && !(mixinExtendsShared.contains(mixin) && sharedSetters.contains(p.name()))) {
                    classSetters.add(p.name());
                }
            }
            List<String> bases = new ArrayList<>();
            bases.add(b.python() + (s.model() != null && !b.python().endsWith("Evaluator") ? "[" + str(s.model().getSimpleName()) + "]" : ""));
            bases.add(mixin);
            for (String m : sharedMixins(s.type()).keySet()) {
                if (!b.params().containsAll(sharedMixins(s.type()).get(m))) bases.add(m);
            }
            bases.addAll(s.methods());
            bases.add("_MoEJavaStage");
            String estimator = stages.stream().filter(e -> e.model() == s.type()).map(Stage::name).findFirst().orElse(null);
            classFor(py, s, bases, all, classSetters, estimator);
        }
        py.blank();
        py.blank();
        py.line("# pyspark loads a saved stage through the Python module named like its Java package (pyspark's");
        py.line("# JavaParams._from_java imports it). Assigned, not setdefault: with the app jar on sys.path,");
        py.line("# org/sparkmoe/ml/ there would otherwise be importable as an empty namespace package.");
        py.line("sys.modules[JAVA_PACKAGE] = sys.modules[__name__]");
        return py.toString();
    }

    private static boolean isModel(List<Stage> stages, Stage s) {
        return stages.stream().anyMatch(e -> e.model() == s.type());
    }

    private static boolean same(List<PyParam> a, List<PyParam> b) {
        if (b == null || a.size() != b.size()) return false;
        for (int i = 0; i < a.size(); i++) if (!a.get(i).sameAs(b.get(i))) return false;
        return true;
    }

    /** The params a JVM class has a public one-argument setX for. */
    static Set<String> javaSetters(Class<?> type) {
        Set<String> out = new TreeSet<>();
        for (Method m : type.getMethods()) {
            if (m.getName().startsWith("set") && m.getName().length() > 3 && m.getParameterCount() == 1) {
                out.add(Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4));
            }
        }
        return out;
    }

    private static void mixin(Py py, String name, String parent, String doc, List<PyParam> params, Set<String> setters) {
        py.blank();
        py.blank();
        py.line("class " + name + "(" + parent + "):");
        py.line("    \"\"\"" + doc + "\"\"\"");
        if (params.isEmpty()) {
            py.blank();
            py.line("    pass");
            return;
        }
        py.blank();
        for (PyParam p : params) {
            py.line("    " + p.name() + ": \"Param[" + p.type() + "]\" = Param(");
            py.line("        Params._dummy(), " + str(p.name()) + ", " + str(p.doc()) + ", typeConverter=TypeConverters." + p.converter() + ")");
        }
        for (PyParam p : params) {
            py.blank();
            py.line("    def get" + cap(p.name()) + "(self) -> " + p.type() + ":");
            py.line("        \"\"\"Gets the value of " + p.name() + " or its default value.\"\"\"");
            py.line("        return self.getOrDefault(self." + p.name() + ")");
            if (setters.contains(p.name())) setter(py, p.name(), p.type());
        }
    }

    private static void setter(Py py, String name, String type) {
        py.blank();
        py.line("    def set" + cap(name) + "(self: P, value: " + type + ") -> P:");
        py.line("        \"\"\"Sets the value of :py:attr:`" + name + "`.\"\"\"");
        py.line("        return self._set(" + name + "=value)");
    }

    private static void classFor(Py py, Stage s, List<String> bases, List<PyParam> all, Set<String> setters, String estimator) {
        String java = s.type().getName();
        boolean model = base(s.type()).python().contains("Model");
        py.blank();
        py.blank();
        py.line("class " + s.name() + "(");
        for (String b : bases) py.line("    " + b + ",");
        py.line("):");
        List<String> doc = new ArrayList<>();
        doc.add(s.summary() + " (JVM class " + java + ").");
        doc.add("");
        if (model && estimator != null) {
            doc.addAll(wrap("Its params are those of " + estimator + ", with the values it was fitted with (help(" + estimator
                    + ") lists them).", 100));
        } else {
            doc.add(model ? "Params (the Java defaults):" : "Params (keyword arguments of the constructor and setParams; the Java defaults):");
            doc.add("");
            for (PyParam p : all) {
                doc.add(p.name() + " : " + p.type() + (p.hasDefault() ? ", default " + literal(p.javaDefault()) : ", no default"));
                doc.addAll(wrap("    " + p.doc(), 96));
            }
        }
        py.docstring("    ", doc);
        String defaults = all.stream().filter(PyParam::hasDefault).map(p -> p.name() + "=" + literal(p.javaDefault()))
                .collect(Collectors.joining(", "));
        if (model) {
            py.blank();
            py.line("    def __init__(self, java_model: Optional[Any] = None) -> None:");
            py.line("        super().__init__(java_model)");
            py.line("        self._setDefault(" + defaults + ")");
        } else {
            String signature = all.stream()
                    .map(p -> p.name() + ": " + (p.hasDefault() ? p.type() + " = " + literal(p.javaDefault()) : "Optional[" + p.type() + "] = None"))
                    .collect(Collectors.joining(", "));
            py.blank();
            py.line("    @keyword_only");
            py.wrapped("    def __init__(self, *, ", signature, ") -> None:");
            py.line("        \"\"\"Keyword arguments only: any of the params above.\"\"\"");
            py.line("        super().__init__()");
            py.line("        self._java_obj = self._new_java_obj(" + str(java) + ", self.uid)");
            py.line("        self._setDefault(" + defaults + ")");
            py.line("        self.setParams(**self._input_kwargs)");
            py.blank();
            py.line("    @keyword_only");
            py.wrapped("    def setParams(self, *, ", signature, ") -> \"" + s.name() + "\":");
            py.line("        \"\"\"Sets params by name (keyword arguments only; the defaults in the signature are the Java ones).\"\"\"");
            py.line("        return self._set(**self._input_kwargs)");
            if (s.model() != null) {
                py.blank();
                py.line("    def _create_model(self, java_model: Any) -> \"" + s.model().getSimpleName() + "\":");
                py.line("        return " + s.model().getSimpleName() + "(java_model)");
            }
        }
        for (PyParam p : all) if (setters.contains(p.name())) setter(py, p.name(), p.type());
    }

    /** A Java default as a Python literal. */
    static String literal(Object v) {
        if (v == null) return "None";
        if (v instanceof String s) return str(s);
        if (v instanceof Boolean b) return b ? "True" : "False";
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d)) return "float(\"nan\")";
            if (Double.isInfinite(d)) return d > 0 ? "float(\"inf\")" : "float(\"-inf\")";
            return Double.toString(d);
        }
        if (v instanceof Number n) return n.toString();
        if (v instanceof double[] a) return Arrays.stream(a).mapToObj(PySparkWrappers::literal).collect(Collectors.joining(", ", "[", "]"));
        if (v instanceof int[] a) return Arrays.stream(a).mapToObj(Integer::toString).collect(Collectors.joining(", ", "[", "]"));
        if (v instanceof String[] a) return Arrays.stream(a).map(PySparkWrappers::str).collect(Collectors.joining(", ", "[", "]"));
        throw new IllegalArgumentException("no Python literal for " + v.getClass().getName());
    }

    /** A Python string literal. */
    static String str(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '"' -> sb.append("\\\"");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                default -> sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    static String cap(String s) {
        return Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    static List<String> wrap(String text, int width) {
        String indent = text.substring(0, text.length() - text.stripLeading().length());
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder(indent);
        for (String w : text.strip().split(" ")) {
            if (line.length() > indent.length() && line.length() + 1 + w.length() > width) {
                lines.add(line.toString());
                line.setLength(0);
                line.append(indent);
            }
            if (line.length() > indent.length()) line.append(' ');
            line.append(w);
        }
        lines.add(line.toString());
        return lines;
    }

    static final String MODULE_DOC = """
            Each class is a pyspark.ml stage around the JVM class of the same name: the work (training, scoring,
            persistence) happens in the JVM, so spark-moe must be on the driver's class path (``--packages
            org.sparkmoe:spark-moe_2.13:<version>``, or ``--jars``/``spark.jars`` with the application jar). They
            follow pyspark.ml's conventions: the pyspark base of their MLlib base class, keyword-only constructors
            and ``setParams`` whose signatures carry the Java defaults, one typed ``Param`` per Java param with the
            same name, doc and default, ``getX``/``setX``, ``save``/``load``, and they work inside ``Pipeline``,
            ``CrossValidator`` and ``TrainValidationSplit`` (also when those are saved and loaded).

            This file is generated from the JVM classes; the methods that are not params are written by hand in
            sparkmoe._base.

            Loading: pyspark maps a saved Java stage to its Python class by replacing ``org.apache.spark`` with
            ``pyspark`` in the Java class name, which does not work for third-party classes. Importing this module
            therefore registers itself under the module name ``org.sparkmoe.ml`` (in ``sys.modules`` only), so that
            ``PipelineModel.load`` and the tuning models' ``load`` find these wrappers: import ``sparkmoe`` before
            loading. Spark Connect is not supported (these wrap JVM objects through py4j).
            """;

    /** Python source being written. */
    static final class Py {
        private final StringBuilder sb = new StringBuilder();

        void line(String s) {
            sb.append(s.stripTrailing()).append('\n');
        }

        void blank() {
            sb.append('\n');
        }

        void text(String s) {
            for (String l : s.strip().split("\n", -1)) line(l);
        }

        void docstring(String indent, List<String> lines) {
            line(indent + "\"\"\"" + esc(lines.get(0)));
            for (String l : lines.subList(1, lines.size())) line(l.isEmpty() ? "" : indent + esc(l));
            line(indent + "\"\"\"");
        }

        private static String esc(String s) {
            return s.replace("\\", "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
        }

        /** {@code head} + comma-separated {@code args} + {@code tail}, one argument per line when too long. */
        void wrapped(String head, String args, String tail) {
            if (head.length() + args.length() + tail.length() <= 110) {
                line(head + args + tail);
                return;
            }
            String indent = head.substring(0, head.length() - head.stripLeading().length());
            line(head.stripTrailing().endsWith("(") ? head.stripTrailing() : head.substring(0, head.indexOf('(') + 1));
            String rest = head.substring(head.indexOf('(') + 1).strip();
            if (!rest.isEmpty()) line(indent + "    " + rest.replaceAll(",$", "") + ",");
            for (String a : splitArgs(args)) line(indent + "    " + a + ",");
            line(indent + tail);
        }

        /** Splits at top-level commas (not inside brackets or quotes). */
        private static List<String> splitArgs(String args) {
            List<String> out = new ArrayList<>();
            int depth = 0;
            boolean quoted = false;
            int start = 0;
            for (int i = 0; i < args.length(); i++) {
                char c = args.charAt(i);
                if (c == '"' && (i == 0 || args.charAt(i - 1) != '\\')) quoted = !quoted;
                if (quoted) continue;
                if (c == '[' || c == '(') depth++;
                if (c == ']' || c == ')') depth--;
                if (c == ',' && depth == 0) {
                    out.add(args.substring(start, i).strip());
                    start = i + 1;
                }
            }
            out.add(args.substring(start).strip());
            return out;
        }

        @Override
        public String toString() {
            return sb.toString();
        }
    }
}
