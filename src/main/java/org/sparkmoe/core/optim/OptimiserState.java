package org.sparkmoe.core.optim;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * An optimiser's per-parameter-group state: named slot vectors (Adam's "m" and "v", SGD's
 * "velocity"), each a {@link Parameters} of the group's layout and precision, so a checkpoint
 * writes them like the parameters themselves ({@link Slot#values()}{@code .flat()} is the flat
 * vector). One state per parameter group: the shared parameters and each expert have their own.
 */
public final class OptimiserState implements java.io.Serializable {

    /** One named state vector with the group's layout. */
    public record Slot(String name, Parameters values) implements java.io.Serializable {
        public Slot {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("slot name must be non-empty");
            }
            if (values == null) {
                throw new IllegalArgumentException("slot '" + name + "' has no values");
            }
        }
    }

    private final ParameterLayout layout;
    private final List<Slot> slots;

    /**
     * @param layout the parameter group's layout; every slot must have it
     * @param slots  the state vectors (may be empty: plain SGD keeps no state)
     */
    public OptimiserState(ParameterLayout layout, List<Slot> slots) {
        if (layout == null) {
            throw new IllegalArgumentException("layout must not be null");
        }
        Set<String> names = new HashSet<>();
        for (Slot s : slots) {
            if (!s.values().layout().equals(layout)) {
                throw new IllegalArgumentException("slot '" + s.name() + "' has layout " + s.values().layout() + ", expected " + layout);
            }
            if (!names.add(s.name())) {
                throw new IllegalArgumentException("duplicate slot name '" + s.name() + "'");
            }
        }
        this.layout = layout;
        this.slots = Collections.unmodifiableList(new ArrayList<>(slots));
    }

    public ParameterLayout layout() {
        return layout;
    }

    /** The slots in a fixed order (for checkpoints). */
    public List<Slot> slots() {
        return slots;
    }

    /** The values of the named slot (shared storage). */
    public Parameters slot(String name) {
        for (Slot s : slots) {
            if (s.name().equals(name)) return s.values();
        }
        throw new IllegalArgumentException("no optimiser slot '" + name + "'; slots: " + slots.stream().map(Slot::name).toList());
    }

    /** A deep copy: same names, copied values. */
    public OptimiserState copy() {
        List<Slot> c = new ArrayList<>(slots.size());
        for (Slot s : slots) c.add(new Slot(s.name(), s.values().copy()));
        return new OptimiserState(layout, c);
    }

    @Override
    public String toString() {
        return "OptimiserState" + slots.stream().map(Slot::name).toList() + " over " + layout;
    }
}
