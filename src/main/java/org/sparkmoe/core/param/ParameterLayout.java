package org.sparkmoe.core.param;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.sparkmoe.core.linalg.Precision;

/**
 * The names and shapes of a group of parameter tensors laid out back to back in one flat vector.
 * One flat vector per group makes gradient aggregation, optimiser updates, clipping and
 * serialisation single loops over one array.
 */
public final class ParameterLayout implements Serializable {
    private static final long serialVersionUID = 1L;

    /** One tensor of the layout: its name, shape and where it starts in the flat vector. */
    public record Entry(String name, int rows, int cols, int offset) implements Serializable {
        public int size() {
            return rows * cols;
        }
    }

    private final List<Entry> entries;
    private final Map<String, Entry> byName;
    private final Map<String, Integer> indexByName;
    private final int size;

    private ParameterLayout(List<Entry> entries) {
        this.entries = Collections.unmodifiableList(entries);
        Map<String, Entry> m = new LinkedHashMap<>();
        Map<String, Integer> idx = new java.util.HashMap<>();
        int total = 0;
        for (Entry e : entries) {
            idx.put(e.name(), m.size());
            m.put(e.name(), e);
            total = Math.addExact(total, e.size());
        }
        this.byName = Collections.unmodifiableMap(m);
        this.indexByName = idx;
        this.size = total;
    }

    public static Builder builder() {
        return new Builder();
    }

    public List<Entry> entries() {
        return entries;
    }

    public Entry entry(String name) {
        Entry e = byName.get(name);
        if (e == null) {
            throw new IllegalArgumentException("no parameter '" + name + "' in layout " + byName.keySet());
        }
        return e;
    }

    /** Position of the named tensor in {@link #entries()}. */
    public int indexOf(String name) {
        Integer i = indexByName.get(name);
        if (i == null) {
            throw new IllegalArgumentException("no parameter '" + name + "' in layout " + byName.keySet());
        }
        return i;
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** Total number of scalars. */
    public int size() {
        return size;
    }

    /** Fresh zero-valued parameters with this layout. */
    public Parameters allocate(Precision precision) {
        return new Parameters(this, precision.zeros(1, size));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterLayout l && l.entries.equals(entries);
    }

    @Override
    public int hashCode() {
        return entries.hashCode();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("ParameterLayout{");
        for (Entry e : entries) sb.append(e.name()).append('[').append(e.rows()).append('x').append(e.cols()).append("] ");
        return sb.append("size=").append(size).append('}').toString();
    }

    /** Adds tensors in order; names must be unique. */
    public static final class Builder {
        private final List<Entry> entries = new ArrayList<>();
        private final java.util.Set<String> names = new java.util.HashSet<>();
        private int offset;

        public Builder add(String name, int rows, int cols) {
            if (rows <= 0 || cols <= 0) {
                throw new IllegalArgumentException("parameter '" + name + "' needs a positive shape, got " + rows + "x" + cols);
            }
            if (!names.add(name)) {
                throw new IllegalArgumentException("duplicate parameter name '" + name + "'");
            }
            entries.add(new Entry(name, rows, cols, offset));
            offset = Math.addExact(offset, Math.multiplyExact(rows, cols));
            return this;
        }

        public ParameterLayout build() {
            return new ParameterLayout(new ArrayList<>(entries));
        }
    }
}
