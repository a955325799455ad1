package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.function.Supplier;

/**
 * Per-thread scratch buffers of a layer. A layer instance is shared by all tasks of an executor
 * (it arrives in a broadcast or a closure), so its reusable buffers must be per thread; the
 * ThreadLocal itself is transient and created on first use after deserialisation.
 */
final class PerThread<T> implements Serializable {
    private static final long serialVersionUID = 1L;

    /** A serialisable factory (a constructor reference of the scratch class). */
    interface Factory<T> extends Supplier<T>, Serializable {
    }

    private final Factory<T> factory;
    private transient volatile ThreadLocal<T> local;

    PerThread(Factory<T> factory) {
        this.factory = factory;
    }

    T get() {
        ThreadLocal<T> t = local;
        if (t == null) {
            synchronized (this) {
                t = local;
                if (t == null) {
                    t = ThreadLocal.withInitial(factory);
                    local = t;
                }
            }
        }
        return t.get();
    }
}
