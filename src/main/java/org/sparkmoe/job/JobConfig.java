package org.sparkmoe.job;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.network.TokenContextEmbedding;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;

/**
 * The job's configuration: the defaults and the list of known keys come from the shipped
 * {@code conf/moe-job.properties} (on the classpath as {@code org/sparkmoe/job/moe-job.properties}),
 * then {@code --config FILE} files, then {@code key=value} / {@code --conf key=value} arguments; later
 * settings win. Every value is validated when the configuration is built: an unknown key, a value of
 * the wrong type or out of range, or inconsistent keys (k &gt; experts, ...) is a
 * {@link ConfigException} naming the key and the value.
 */
public final class JobConfig implements Serializable {
    private static final long serialVersionUID = 1L;
    /** The classpath resource holding the documented defaults. */
    public static final String DEFAULTS_RESOURCE = "org/sparkmoe/job/moe-job.properties";
    /** The smallest vocabulary: {@code <unk>}, {@code <eos>} and at least one word. */
    public static final int MIN_VOCABULARY = 3;

    /** A configuration error: exit code 2. */
    public static final class ConfigException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public ConfigException(String message) {
            super(message);
        }
    }

    private final Map<String, String> values;

    private JobConfig(Map<String, String> values) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        validate();
    }

    // ------------------------------------------------------------------------------ loading

    /** The shipped defaults, in file order. */
    public static Map<String, String> defaults() {
        try (InputStream in = JobConfig.class.getClassLoader().getResourceAsStream(DEFAULTS_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(DEFAULTS_RESOURCE + " is not on the classpath (is conf/ a resource dir in pom.xml?)");
            }
            return readOrdered(new InputStreamReader(in, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + DEFAULTS_RESOURCE, e);
        }
    }

    private static Map<String, String> readOrdered(Reader r) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        Properties p = new Properties() {
            private static final long serialVersionUID = 1L;

            @Override
            public synchronized Object put(Object key, Object value) {
                out.put((String) key, ((String) value).trim());
                return super.put(key, value);
            }
        };
        p.load(r);
        return out;
    }

    /** The defaults only. */
    public static JobConfig defaultConfig() {
        return new JobConfig(defaults());
    }

    /** The defaults overridden by {@code overrides} (keys checked). */
    public static JobConfig of(Map<String, String> overrides) {
        Map<String, String> v = new LinkedHashMap<>(defaults());
        for (Map.Entry<String, String> e : overrides.entrySet()) put(v, e.getKey(), e.getValue(), "override");
        return new JobConfig(v);
    }

    /**
     * Parses command-line arguments: {@code key=value}, {@code --conf key=value}, {@code --config FILE}
     * (or {@code config=FILE}), applied in order over the defaults.
     */
    public static JobConfig fromArgs(List<String> args) {
        Map<String, String> v = new LinkedHashMap<>(defaults());
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--conf") || a.equals("--config")) {
                if (i + 1 >= args.size()) throw new ConfigException(a + " needs an argument");
                String next = args.get(++i);
                if (a.equals("--config")) loadFile(v, next);
                else keyValue(v, next);
            } else if (a.startsWith("--conf=")) {
                keyValue(v, a.substring("--conf=".length()));
            } else if (a.startsWith("--config=")) {
                loadFile(v, a.substring("--config=".length()));
            } else if (a.startsWith("config=")) {
                loadFile(v, a.substring("config=".length()));
            } else if (a.startsWith("--") && a.contains("=")) {
                keyValue(v, a.substring(2));
            } else {
                keyValue(v, a);
            }
        }
        return new JobConfig(v);
    }

    private static void keyValue(Map<String, String> v, String kv) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException("argument '" + kv + "' is not key=value (known keys are listed in conf/moe-job.properties)");
        }
        put(v, kv.substring(0, eq).trim(), kv.substring(eq + 1).trim(), "command line");
    }

    private static void loadFile(Map<String, String> v, String file) {
        Path p = Path.of(file);
        if (!Files.isRegularFile(p)) throw new ConfigException("config file " + file + " does not exist");
        try (Reader r = Files.newBufferedReader(p, StandardCharsets.UTF_8)) {
            for (Map.Entry<String, String> e : readOrdered(r).entrySet()) put(v, e.getKey(), e.getValue(), "config file " + file);
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
        }
    }

    private static void put(Map<String, String> v, String key, String value, String where) {
        if (!RULES.containsKey(key)) {
            String near = closest(key);
            throw new ConfigException("unknown config key '" + key + "' (" + where + ")"
                    + (near == null ? "" : "; did you mean '" + near + "'?") + " Known keys are documented in conf/moe-job.properties");
        }
        v.put(key, value == null ? "" : value.trim());
    }

    /** The known key nearest to {@code key} by edit distance (case-insensitive), or null. */
    static String closest(String key) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        for (String k : RULES.keySet()) {
            int d = editDistance(key.toLowerCase(Locale.ROOT), k.toLowerCase(Locale.ROOT));
            String tail = k.substring(k.indexOf('.') + 1).toLowerCase(Locale.ROOT);
            if (key.toLowerCase(Locale.ROOT).equals(tail)) d = 0; // "experts" -> "model.experts"
            if (d < bestD) {
                bestD = d;
                best = k;
            }
        }
        return bestD <= Math.max(3, key.length() / 2) ? best : null;
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    // ------------------------------------------------------------------------------ rules

    private record Rule(String allowed, Predicate<String> ok) implements Serializable {
    }

    private static final Map<String, Rule> RULES = new LinkedHashMap<>();

    private static void rule(String key, String allowed, Predicate<String> ok) {
        RULES.put(key, new Rule(allowed, ok));
    }

    private static Predicate<String> oneOf(String... allowed) {
        Set<String> s = Set.of(allowed);
        return v -> s.contains(v.toLowerCase(Locale.ROOT));
    }

    private static Predicate<String> intAtLeast(long min) {
        return v -> {
            try {
                return Long.parseLong(v) >= min;
            } catch (NumberFormatException e) {
                return false;
            }
        };
    }

    private static Predicate<String> number(double min, boolean minExclusive, double max) {
        return v -> {
            try {
                double d = Double.parseDouble(v);
                return Double.isFinite(d) && (minExclusive ? d > min : d >= min) && d <= max;
            } catch (NumberFormatException e) {
                return false;
            }
        };
    }

    private static Predicate<String> optional(Predicate<String> p) {
        return v -> v.isEmpty() || v.equalsIgnoreCase("nan") || p.test(v);
    }

    private static final Predicate<String> ANY = v -> true;
    private static final Predicate<String> BOOL = oneOf("true", "false");
    private static final Predicate<String> LONG = v -> {
        try {
            Long.parseLong(v);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    };

    static {
        rule("task", "lm | classification | regression", oneOf("lm", "classification", "regression"));
        rule("input.path", "paths or globs", ANY);
        rule("input.format", "text | parquet | csv | libsvm", oneOf("text", "parquet", "csv", "libsvm"));
        rule("input.textColumn", "a column name", v -> !v.isEmpty());
        rule("input.documentPerFile", "true | false", BOOL);
        rule("input.lowercase", "true | false", BOOL);
        rule("input.keepPunctuation", "true | false", BOOL);
        rule("input.stripTags", "true | false", BOOL);
        rule("input.labelColumn", "a column name", v -> !v.isEmpty());
        rule("input.featureColumns", "column names, comma-separated", ANY);
        rule("input.header", "true | false", BOOL);
        rule("input.numFeatures", "an integer >= 0", intAtLeast(0));
        rule("input.numClasses", "an integer >= 0 (0 = infer), not 1", v -> intAtLeast(0).test(v) && !v.equals("1"));
        rule("input.partitions", "an integer >= 0", intAtLeast(0));
        rule("heldout.fraction", "a number in [0, 0.9]", number(0, false, 0.9));
        rule("heldout.path", "paths or globs", ANY);
        rule("synthetic.domains", "an integer >= 1", intAtLeast(1));
        rule("synthetic.documents", "an integer >= 1", intAtLeast(1));
        rule("synthetic.documentLength", "an integer >= 2", intAtLeast(2));
        rule("synthetic.seed", "an integer", LONG);
        rule("synthetic.noise", "a number > 0", number(0, true, Double.MAX_VALUE));
        rule("synthetic.examples", "an integer >= 1", intAtLeast(1));
        rule("model.gating", "softmax | noisy_top_k | hierarchical", oneOf("softmax", "noisy_top_k", "hierarchical"));
        rule("model.experts", "an integer >= 1", intAtLeast(1));
        rule("model.k", "an integer in [1, model.experts]", intAtLeast(1));
        rule("model.groups", "an integer >= 1", intAtLeast(1));
        rule("model.expertsPerGroup", "an integer >= 1", intAtLeast(1));
        rule("model.kPrimary", "an integer in [1, model.groups]", intAtLeast(1));
        rule("model.kSecondary", "an integer in [1, model.expertsPerGroup]", intAtLeast(1));
        rule("model.expertHidden", "an integer >= 1", intAtLeast(1));
        rule("model.modelDim", "an integer >= 1", intAtLeast(1));
        rule("model.context", "an integer >= 1", intAtLeast(1));
        rule("model.embeddingDim", "an integer >= 1", intAtLeast(1));
        rule("model.combine", "concat | sum", oneOf("concat", "sum"));
        rule("model.vocabularySize", "an integer >= " + MIN_VOCABULARY + " (<unk>, <eos> and at least one word)",
                intAtLeast(MIN_VOCABULARY));
        rule("model.residual", "true | false", BOOL);
        rule("model.wImportance", "a number >= 0", number(0, false, Double.MAX_VALUE));
        rule("model.wLoad", "a number >= 0", number(0, false, Double.MAX_VALUE));
        rule("engine.routing", "shuffle | local", oneOf("shuffle", "local"));
        rule("engine.placement", "driver | sharded", oneOf("driver", "sharded"));
        rule("engine.expertShards", "an integer in [1, number of experts]", intAtLeast(1));
        rule("engine.batchSize", "an integer >= 1", intAtLeast(1));
        rule("engine.precision", "f32 | f64", oneOf("f32", "f64"));
        rule("optim.learningRate", "a number > 0", number(0, true, Double.MAX_VALUE));
        rule("optim.warmupSteps", "an integer >= 1", intAtLeast(1));
        rule("optim.clipNorm", "a number >= 0 (0 = off)", number(0, false, Double.MAX_VALUE));
        rule("optim.steps", "an integer >= 1", intAtLeast(1));
        rule("optim.seed", "an integer", LONG);
        rule("output.dir", "a path", ANY);
        rule("checkpoint.interval", "an integer >= 1", intAtLeast(1));
        rule("checkpoint.keep", "an integer >= 1", intAtLeast(1));
        rule("progress.interval", "an integer >= 1", intAtLeast(1));
        rule("charts.enabled", "true | false", BOOL);
        rule("score.experts", "true | false", BOOL);
        rule("bar.maxPerplexity", "a number > 0, or empty", optional(number(0, true, Double.MAX_VALUE)));
        rule("bar.minAccuracy", "a number in [0, 1], or empty", optional(number(0, false, 1)));
        rule("bar.maxRmse", "a number > 0, or empty", optional(number(0, true, Double.MAX_VALUE)));
        rule("retrain.root", "a path", ANY);
        rule("retrain.date", "letters, digits, '-', '_', '.'", v -> v.isEmpty() || v.matches("[A-Za-z0-9._-]+") && !v.startsWith("."));
        rule("job.model", "a path", ANY);
        rule("evaluate.output", "a path", ANY);
        rule("score.output", "a path", ANY);
    }

    /** Every key the job knows, in documentation order. */
    public static Set<String> knownKeys() {
        return Collections.unmodifiableSet(RULES.keySet());
    }

    private void validate() {
        Set<String> missingDefaults = new TreeSet<>(RULES.keySet());
        missingDefaults.removeAll(values.keySet());
        if (!missingDefaults.isEmpty()) {
            throw new IllegalStateException(DEFAULTS_RESOURCE + " does not document the keys " + missingDefaults);
        }
        for (Map.Entry<String, String> e : values.entrySet()) {
            Rule r = RULES.get(e.getKey());
            if (r == null) {
                throw new IllegalStateException(DEFAULTS_RESOURCE + " has key '" + e.getKey() + "' that the job does not know");
            }
            if (!r.ok().test(e.getValue())) {
                throw new ConfigException("config key '" + e.getKey() + "' has invalid value '" + e.getValue() + "': expected "
                        + r.allowed());
            }
        }
        String gating = string("model.gating");
        int experts = integer("model.experts");
        if (gating.equals("hierarchical")) {
            if (integer("model.kPrimary") > integer("model.groups")) {
                throw new ConfigException("config key 'model.kPrimary' = '" + string("model.kPrimary") + "' exceeds model.groups = "
                        + integer("model.groups"));
            }
            if (integer("model.kSecondary") > integer("model.expertsPerGroup")) {
                throw new ConfigException("config key 'model.kSecondary' = '" + string("model.kSecondary")
                        + "' exceeds model.expertsPerGroup = " + integer("model.expertsPerGroup"));
            }
        } else if (gating.equals("noisy_top_k") && integer("model.k") > experts) {
            throw new ConfigException("config key 'model.k' = '" + string("model.k") + "' exceeds model.experts = " + experts
                    + " (k must be in [1, n])");
        }
        if (integer("engine.expertShards") > numExperts()) {
            throw new ConfigException("config key 'engine.expertShards' = '" + string("engine.expertShards")
                    + "' exceeds the number of experts " + numExperts());
        }
    }

    // ------------------------------------------------------------------------------ access

    public String string(String key) {
        String v = values.get(key);
        if (v == null) throw new ConfigException("unknown config key '" + key + "'");
        return v;
    }

    public int integer(String key) {
        try {
            return Integer.parseInt(string(key));
        } catch (NumberFormatException e) {
            throw new ConfigException("config key '" + key + "' has invalid value '" + string(key) + "': expected an integer");
        }
    }

    public long longValue(String key) {
        try {
            return Long.parseLong(string(key));
        } catch (NumberFormatException e) {
            throw new ConfigException("config key '" + key + "' has invalid value '" + string(key) + "': expected an integer");
        }
    }

    public double number(String key) {
        String v = string(key);
        if (v.isEmpty()) return Double.NaN;
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new ConfigException("config key '" + key + "' has invalid value '" + v + "': expected a number");
        }
    }

    public boolean bool(String key) {
        return Boolean.parseBoolean(string(key).toLowerCase(Locale.ROOT));
    }

    /** Comma-separated list, blanks dropped. */
    public List<String> list(String key) {
        List<String> out = new ArrayList<>();
        for (String s : string(key).split(",")) if (!s.isBlank()) out.add(s.trim());
        return out;
    }

    /** A required value: an error naming the key when empty. */
    public String required(String key, String forWhat) {
        String v = string(key);
        if (v.isEmpty()) throw new ConfigException("config key '" + key + "' must be set " + forWhat);
        return v;
    }

    /** All values, in documentation order. */
    public Map<String, String> asMap() {
        return values;
    }

    /** A copy with more overrides. */
    public JobConfig with(Map<String, String> overrides) {
        Map<String, String> v = new LinkedHashMap<>(values);
        for (Map.Entry<String, String> e : overrides.entrySet()) put(v, e.getKey(), e.getValue(), "override");
        return new JobConfig(v);
    }

    public JobConfig with(String key, String value) {
        return with(Map.of(key, value));
    }

    // ------------------------------------------------------------------------------ typed views

    public enum TaskKind { LM, CLASSIFICATION, REGRESSION }

    public TaskKind task() {
        return TaskKind.valueOf(string("task").toUpperCase(Locale.ROOT));
    }

    public int numExperts() {
        return string("model.gating").equals("hierarchical") ? integer("model.groups") * integer("model.expertsPerGroup")
                : integer("model.experts");
    }

    public Precision precision() {
        return string("engine.precision").equalsIgnoreCase("f64") ? Precision.F64 : Precision.F32;
    }

    /**
     * The network for data of the given shape: vocabulary size (lm) or feature count and outputs
     * (classes or regression outputs).
     */
    public NetworkSpec networkSpec(int vocabulary, int inputDim, int outputs) {
        TaskKind t = task();
        NetworkSpec.Task task = switch (t) {
            case LM -> NetworkSpec.Task.LANGUAGE_MODEL;
            case CLASSIFICATION -> NetworkSpec.Task.CLASSIFICATION;
            case REGRESSION -> NetworkSpec.Task.REGRESSION;
        };
        boolean lm = t == TaskKind.LM;
        NetworkSpec.GatingType gating = NetworkSpec.GatingType.valueOf(string("model.gating").toUpperCase(Locale.ROOT));
        boolean hier = gating == NetworkSpec.GatingType.HIERARCHICAL;
        try {
            return new NetworkSpec(task, lm ? 0 : inputDim, lm ? vocabulary : 0, lm ? integer("model.context") : 0,
                    lm ? integer("model.embeddingDim") : 0,
                    lm ? TokenContextEmbedding.Mode.valueOf(string("model.combine").toUpperCase(Locale.ROOT)) : null,
                    integer("model.modelDim"), lm ? vocabulary : outputs, gating, hier ? 0 : integer("model.experts"),
                    gating == NetworkSpec.GatingType.NOISY_TOP_K ? integer("model.k") : 0,
                    hier ? integer("model.groups") : 0, hier ? integer("model.expertsPerGroup") : 0,
                    hier ? integer("model.kPrimary") : 0, hier ? integer("model.kSecondary") : 0, integer("model.expertHidden"),
                    bool("model.residual"), number("model.wImportance"), number("model.wLoad"));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    public TrainerConfig trainerConfig() {
        return new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(number("optim.learningRate"),
                longValue("optim.warmupSteps")), number("optim.clipNorm"), longValue("optim.seed"), precision());
    }

    public EngineConfig engineConfig() {
        return EngineConfig.of(RoutingMode.valueOf(string("engine.routing").toUpperCase(Locale.ROOT)),
                ExpertPlacement.valueOf(string("engine.placement").toUpperCase(Locale.ROOT)), integer("engine.expertShards"),
                integer("engine.batchSize"), trainerConfig());
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, String> e : values.entrySet()) sb.append(e.getKey()).append('=').append(e.getValue()).append('\n');
        return sb.toString();
    }
}
