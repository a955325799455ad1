package org.sparkmoe.bench;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/** {@code key=value} arguments of the benchmark mains, with defaults. */
final class BenchArgs {
    private final Map<String, String> values = new HashMap<>();

    BenchArgs(String[] args) {
        for (String s : args) {
            int eq = s.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("expected key=value, got '" + s + "'");
            values.put(s.substring(0, eq), s.substring(eq + 1));
        }
    }

    String string(String key, String otherwise) {
        return values.getOrDefault(key, otherwise);
    }

    int integer(String key, int otherwise) {
        return Integer.parseInt(string(key, Integer.toString(otherwise)));
    }

    /** A comma-separated list of integers. */
    int[] integers(String key, String otherwise) {
        return Arrays.stream(string(key, otherwise).split(",")).mapToInt(Integer::parseInt).toArray();
    }
}
