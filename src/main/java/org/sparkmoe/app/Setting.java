package org.sparkmoe.app;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One configuration setting as both faces see it: the job's key ({@code model.numExperts}) and the
 * ML param's name ({@code numExperts}) are the same name modulo case style, with one default, one
 * rule and one documentation text. Declared once, in {@link Settings}; the job's reference file
 * {@code conf/moe-job.properties}, the ML params' docs and the PySpark wrappers' docs are produced
 * from the declaration.
 *
 * @param name      the canonical name (the ML param's; for a job-only setting the job key)
 * @param jobKey    the job's key, or null when the job does not read it
 * @param param     whether the ML estimators have it as a param
 * @param type      the value's type
 * @param min       smallest allowed value (numbers), or NaN
 * @param minOpen   min itself is not allowed
 * @param max       largest allowed value (numbers), or NaN
 * @param choices   the allowed values (CHOICE), canonical spelling
 * @param optional  an empty value is allowed (and means "not set")
 * @param defaultValue the default, canonical spelling ("" = empty)
 * @param allowed   how the allowed values read in an error message ("an integer >= 1")
 * @param doc       what it means; {@code {name}} refers to another setting and is written in the
 *                  reader's vocabulary (the job key in the job's reference, the param name in a doc)
 * @param oldJobKeys job keys of earlier versions, still accepted with a deprecation message
 * @param section   the heading of the reference file's section it opens, or null
 */
public record Setting(String name, String jobKey, boolean param, Type type, double min, boolean minOpen, double max,
                      List<String> choices, boolean optional, String defaultValue, String allowed, String doc,
                      List<String> oldJobKeys, String section) implements Serializable {

    /** A setting's value type. */
    public enum Type { INT, LONG, DOUBLE, BOOLEAN, STRING, CHOICE }

    /** Who reads a name: the job (keys) or the ML API (params). */
    public enum Face {
        JOB, ML;

        /** How this face names {@code s}. */
        public String name(Setting s) {
            return this == JOB ? s.jobKey() : s.name();
        }

        /** The subject of an error about {@code s} having {@code value}. */
        public String subject(Setting s, Object value) {
            return this == JOB ? "config key '" + s.jobKey() + "' = '" + value + "'" : "param " + s.name() + " (" + value + ")";
        }
    }

    private static final Pattern REF = Pattern.compile("\\{([A-Za-z0-9.]+)}");

    /** The documentation with references written the way {@code face} names settings. */
    public String doc(Face face) {
        Matcher m = REF.matcher(doc);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            Setting other = Settings.byName(m.group(1));
            String n = face == Face.JOB && other.jobKey() != null ? other.jobKey() : other.name();
            m.appendReplacement(sb, Matcher.quoteReplacement(n));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    /** Whether {@code value} (already {@link #canonical canonical}) is allowed. */
    public boolean accepts(String value) {
        if (value == null) return false;
        String v = value.trim();
        if (v.isEmpty() || (optional && v.equalsIgnoreCase("nan"))) return optional || type == Type.STRING && !notEmpty();
        try {
            return switch (type) {
                case INT -> inRange(Integer.parseInt(v));
                case LONG -> inRange(Long.parseLong(v));
                case DOUBLE -> {
                    double d = Double.parseDouble(v);
                    yield Double.isFinite(d) && inRange(d);
                }
                case BOOLEAN -> v.equalsIgnoreCase("true") || v.equalsIgnoreCase("false");
                case CHOICE -> choices.contains(canonical(v));
                case STRING -> true;
            };
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** A string setting whose value must not be empty ({@code allowed} says so). */
    private boolean notEmpty() {
        return allowed.contains("not empty") || allowed.equals("a column name");
    }

    /** Whether a number is within [min, max] (min exclusive when minOpen). */
    public boolean inRange(double d) {
        if (!Double.isNaN(min) && (minOpen ? d <= min : d < min)) return false;
        return Double.isNaN(max) || d <= max;
    }

    /**
     * The canonical spelling of a value: a choice is matched ignoring case and '_' / '-'
     * ({@code noisy_top_k}, {@code NOISY_TOP_K} and {@code noisyTopK} are one value), a boolean
     * is lower-cased; other values are trimmed.
     */
    public String canonical(String value) {
        String v = value == null ? "" : value.trim();
        if (type == Type.BOOLEAN) return v.toLowerCase(Locale.ROOT);
        if (type != Type.CHOICE) return v;
        String key = fold(v);
        for (String c : choices) if (fold(c).equals(key)) return c;
        return v;
    }

    private static String fold(String s) {
        return s.replace("_", "").replace("-", "").toLowerCase(Locale.ROOT);
    }

    /** The default as the param's Java value (Integer, Long, Double, Boolean or String). */
    public Object defaultObject() {
        return parse(defaultValue);
    }

    /** A (canonical, accepted) value as its Java object. */
    public Object parse(String v) {
        return switch (type) {
            case INT -> Integer.parseInt(v.trim());
            case LONG -> Long.parseLong(v.trim());
            case DOUBLE -> v.isBlank() ? Double.NaN : Double.parseDouble(v.trim());
            case BOOLEAN -> Boolean.parseBoolean(v.trim());
            case STRING, CHOICE -> canonical(v);
        };
    }
}
