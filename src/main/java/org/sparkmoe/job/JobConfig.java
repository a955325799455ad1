package org.sparkmoe.job;

import java.io.IOException;
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

import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.app.MoEConfig;
import org.sparkmoe.app.Setting;
import org.sparkmoe.app.Settings;

/**
 * The job's configuration: the declared defaults ({@link Settings}; documented in the generated
 * {@code conf/moe-job.properties}), then {@code --config FILE} files, then {@code key=value} /
 * {@code --conf key=value} arguments; later settings win. Every value is validated when the
 * configuration is built: an unknown key, a value of the wrong type or out of range, or
 * inconsistent keys (k &gt; experts, ...; {@link MoEConfig#validate}) is a {@link ConfigException}
 * naming the key and the value. A key of an earlier version is accepted under its new name and
 * listed in {@link #deprecations()}.
 */
public final class JobConfig implements Serializable {
    private static final long serialVersionUID = 1L;
    /** The smallest vocabulary: {@code <unk>}, {@code <eos>} and at least one word. */
    public static final int MIN_VOCABULARY = 3;

    /** A configuration error: exit code 2. */
    public static final class ConfigException extends MoEConfig.InvalidConfigException {
        private static final long serialVersionUID = 1L;

        public ConfigException(String message) {
            super(message);
        }
    }

    private final Map<String, String> values;
    private final List<String> deprecations;
    /** The keys given (command line, config file, overrides), the others having their defaults. */
    private final Set<String> given;
    private final MoEConfig typed;

    private JobConfig(Map<String, String> values, List<String> deprecations, Set<String> given) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        this.deprecations = List.copyOf(deprecations);
        this.given = Set.copyOf(given);
        this.typed = validate();
    }

    /** Whether {@code key} was given (command line, config file, override) rather than left at its default. */
    public boolean given(String key) {
        return given.contains(key);
    }

    // ------------------------------------------------------------------------------ loading

    /** The declared defaults, in documentation order. */
    public static Map<String, String> defaults() {
        Map<String, String> d = new LinkedHashMap<>();
        for (Setting s : Settings.all()) if (s.jobKey() != null) d.put(s.jobKey(), s.defaultValue());
        return d;
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
        return new JobConfig(defaults(), List.of(), Set.of());
    }

    /**
     * Parses command-line arguments: {@code key=value}, {@code --conf key=value}, {@code --config FILE}
     * (or {@code config=FILE}), applied in order over the defaults.
     */
    public static JobConfig fromArgs(List<String> args) {
        Map<String, String> v = new LinkedHashMap<>(defaults());
        List<String> dep = new ArrayList<>();
        Set<String> given = new java.util.HashSet<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--conf") || a.equals("--config")) {
                if (i + 1 >= args.size()) throw new ConfigException(a + " needs an argument");
                String next = args.get(++i);
                if (a.equals("--config")) loadFile(v, dep, given, next);
                else keyValue(v, dep, given, next);
            } else if (a.startsWith("--conf=")) {
                keyValue(v, dep, given, a.substring("--conf=".length()));
            } else if (a.startsWith("--config=")) {
                loadFile(v, dep, given, a.substring("--config=".length()));
            } else if (a.startsWith("config=")) {
                loadFile(v, dep, given, a.substring("config=".length()));
            } else if (a.startsWith("--") && a.contains("=")) {
                keyValue(v, dep, given, a.substring(2));
            } else {
                keyValue(v, dep, given, a);
            }
        }
        return new JobConfig(v, dep, given);
    }

    private static void keyValue(Map<String, String> v, List<String> dep, Set<String> given, String kv) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException("argument '" + kv + "' is not key=value (known keys are listed in conf/moe-job.properties)");
        }
        put(v, dep, given, kv.substring(0, eq).trim(), kv.substring(eq + 1).trim(), "command line");
    }

    private static void loadFile(Map<String, String> v, List<String> dep, Set<String> given, String file) {
        Path p = Path.of(file);
        if (!Files.isRegularFile(p)) throw new ConfigException("config file " + file + " does not exist");
        try (Reader r = Files.newBufferedReader(p, StandardCharsets.UTF_8)) {
            for (Map.Entry<String, String> e : readOrdered(r).entrySet()) put(v, dep, given, e.getKey(), e.getValue(), "config file " + file);
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
        }
    }

    private static void put(Map<String, String> v, List<String> dep, Set<String> given, String key, String value, String where) {
        Setting s = Settings.byJobKey(key);
        if (s == null) {
            s = Settings.byOldJobKey(key);
            if (s != null) {
                String note = "config key '" + key + "' (" + where + ") is deprecated; use '" + s.jobKey() + "'";
                if (!dep.contains(note)) dep.add(note);
            }
        }
        if (s == null) {
            String near = closest(key);
            throw new ConfigException("unknown config key '" + key + "' (" + where + ")"
                    + (near == null ? "" : "; did you mean '" + near + "'?") + " Known keys are documented in conf/moe-job.properties");
        }
        v.put(s.jobKey(), value == null ? "" : value.trim());
        given.add(s.jobKey());
    }

    /** The deprecation messages of the keys of earlier versions this configuration was given. */
    public List<String> deprecations() {
        return deprecations;
    }

    /** The known key nearest to {@code key} by edit distance (case-insensitive), or null. */
    static String closest(String key) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        Map<String, String> candidates = new LinkedHashMap<>();
        for (Setting s : Settings.all()) {
            if (s.jobKey() == null) continue;
            candidates.put(s.jobKey(), s.jobKey());
            for (String old : s.oldJobKeys()) candidates.put(old, s.jobKey());
        }
        for (Map.Entry<String, String> c : candidates.entrySet()) {
            String k = c.getKey();
            int d = editDistance(key.toLowerCase(Locale.ROOT), k.toLowerCase(Locale.ROOT));
            String tail = k.substring(k.indexOf('.') + 1).toLowerCase(Locale.ROOT);
            if (key.toLowerCase(Locale.ROOT).equals(tail)) d = 0; // "numExperts" -> "model.numExperts"
            if (d < bestD) {
                bestD = d;
                best = c.getValue();
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

    /** Every key the job knows, in documentation order. */
    public static Set<String> knownKeys() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(Settings.jobKeys()));
    }

    /** Each value against its setting's rule, then the checks between settings; the typed view. */
    private MoEConfig validate() {
        MoEConfig.Builder b = MoEConfig.builder().face(Setting.Face.JOB);
        for (Map.Entry<String, String> e : values.entrySet()) {
            Setting s = Settings.byJobKey(e.getKey());
            String v = e.getValue();
            boolean ok = s.accepts(v);
            if (s == Settings.INPUT_NUM_CLASSES) ok &= !v.equals("1");
            if (s == Settings.RETRAIN_DATE || s == Settings.ROLLBACK_TO) ok &= v.isEmpty() || v.matches("[A-Za-z0-9._-]+") && !v.startsWith(".");
            if (!ok) throw new ConfigException("config key '" + e.getKey() + "' has invalid value '" + v + "': expected " + s.allowed());
            b.set(s, v);
        }
        String lm = values.getOrDefault(Settings.LM_MODEL.jobKey(), "window");
        if (!lm.equals("window") && !"lm".equals(values.get(Settings.TASK.jobKey()))) {
            throw new ConfigException("config key 'lm.model' = '" + lm + "' applies to task=lm only (task is "
                    + values.get(Settings.TASK.jobKey()) + ")");
        }
        try {
            return b.build();
        } catch (MoEConfig.InvalidConfigException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    /** task=lm with a recurrent model ({@code lm.model} other than window). */
    public boolean recurrent() {
        return task() == TaskKind.LM && !typed.languageModel().equals("window");
    }

    // ------------------------------------------------------------------------------ access

    public String string(String key) {
        Setting old = Settings.byJobKey(key) == null ? Settings.byOldJobKey(key) : null;
        String v = values.get(old != null ? old.jobKey() : key);
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

    /** A copy with more overrides. */
    public JobConfig with(Map<String, String> overrides) {
        Map<String, String> v = new LinkedHashMap<>(values);
        List<String> dep = new ArrayList<>(deprecations);
        Set<String> g = new java.util.HashSet<>(given);
        for (Map.Entry<String, String> e : overrides.entrySet()) put(v, dep, g, e.getKey(), e.getValue(), "override");
        return new JobConfig(v, dep, g);
    }

    public JobConfig with(String key, String value) {
        return with(Map.of(key, value));
    }

    // ------------------------------------------------------------------------------ typed views

    public enum TaskKind { LM, CLASSIFICATION, REGRESSION }

    public TaskKind task() {
        return TaskKind.valueOf(string("task").toUpperCase(Locale.ROOT));
    }

    /** The network, engine, optimiser and run settings, typed. */
    public MoEConfig typed() {
        return typed;
    }

    /**
     * The network for data of the given shape: vocabulary size (lm) or feature count and outputs
     * (classes or regression outputs).
     */
    public NetworkSpec networkSpec(int vocabulary, int inputDim, int outputs) {
        NetworkSpec.Task task = switch (task()) {
            case LM -> NetworkSpec.Task.LANGUAGE_MODEL;
            case CLASSIFICATION -> NetworkSpec.Task.CLASSIFICATION;
            case REGRESSION -> NetworkSpec.Task.REGRESSION;
        };
        try {
            return typed.networkSpec(task, task == NetworkSpec.Task.LANGUAGE_MODEL ? vocabulary : inputDim, outputs);
        } catch (MoEConfig.InvalidConfigException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    public EngineConfig engineConfig() {
        return typed.engineConfig();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, String> e : values.entrySet()) sb.append(e.getKey()).append('=').append(e.getValue()).append('\n');
        return sb.toString();
    }
}
