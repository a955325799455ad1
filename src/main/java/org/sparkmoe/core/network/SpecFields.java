package org.sparkmoe.core.network;

import java.util.Map;

/**
 * Reads the fields of a flat spec map (spec.json's objects as key/values): a missing or malformed
 * key is an {@link IllegalArgumentException} naming the spec and the key.
 */
public final class SpecFields {
    private final Map<String, String> fields;
    private final String what;

    /** {@code what} names the spec in messages, e.g. "model spec". */
    public SpecFields(Map<String, String> fields, String what) {
        this.fields = fields;
        this.what = what;
    }

    /** The trimmed value of {@code key}. */
    public String text(String key) {
        String v = fields.get(key);
        if (v == null) throw new IllegalArgumentException(what + " is missing '" + key + "'");
        return v.trim();
    }

    public int integer(String key) {
        try {
            return Integer.parseInt(text(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " '" + key + "' is not an integer: '" + fields.get(key) + "'");
        }
    }

    public double number(String key) {
        try {
            return Double.parseDouble(text(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " '" + key + "' is not a number: '" + fields.get(key) + "'");
        }
    }
}
