package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.Arrays;

import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.param.Parameters;

/**
 * A step's one broadcast of parameters: the shared group (element 0) and, when the experts live on
 * the driver ({@link DriverExperts#beginStep(Parameters)}), every expert after it. One broadcast
 * rather than one per group: each costs its serialisation, a 4 MB block and a destroy per step.
 * Small; travels in task closures.
 */
record StepBroadcast(Broadcast<Parameters[]> broadcast) implements Serializable {

    /** The shared group (input layer, gating network, head). */
    Parameters value() {
        return broadcast.value()[0];
    }

    /** The experts by index (driver placement only). */
    Parameters[] experts() {
        Parameters[] all = broadcast.value();
        return Arrays.copyOfRange(all, 1, all.length);
    }

    /** Expert {@code e}'s parameters (driver placement only). */
    Parameters expert(int e) {
        return broadcast.value()[e + 1];
    }

    /**
     * A step's parameters for its tasks: {@code sc.broadcast(value)}, except in local mode, where the
     * tasks run in this JVM and get the same objects from a local broadcast's block anyway (stored
     * deserialised, not copied): there a {@link LocalHandoff} passes the reference and skips what a
     * broadcast does besides (serialising and compressing every parameter into blocks no task reads,
     * their block-manager entries and their removal; a fifth of the driver thread's CPU in a
     * classifier step, BENCHMARKS.md "Session-8 fit work"). For a value nothing reads after the step
     * (driver-held parameters, {@link DriverExperts#endStep}); for the sharded placement's shared group,
     * which the driver updates in place while the step's broadcast is kept: {@link #ofShared}.
     */
    static <T> Broadcast<T> of(org.apache.spark.api.java.JavaSparkContext sc, T value) {
        return sc.isLocal() ? new LocalHandoff<>(value) : sc.broadcast(value);
    }

    /** Copies of the shared group that destroyed handoffs gave back (softly held: a cache, dropped under memory pressure). */
    private static final java.util.Deque<java.lang.ref.SoftReference<Parameters>> SPARE_COPIES = new java.util.concurrent.ConcurrentLinkedDeque<>();
    /**
     * Spare copies kept at most, the oldest dropped first: a sharded run holds a step's copy until its lineage
     * is cut (10 steps by default), and earlier trainers of a session leave copies of their layouts behind.
     */
    private static final int MAX_SPARE_COPIES = 16;

    /**
     * The sharded placement's step broadcast of the shared group. Its expert state's lineage reads it
     * until the next lineage checkpoint ({@link ShardedExperts#endStep}) while the driver updates
     * {@code shared} in place, so it must hold the step's values: a real broadcast's blocks do (the
     * parameters serialised and compressed each step: about 2 copies of the gate's 2·d·n weights,
     * which grew the step's allocation with n); in local mode a {@link LocalHandoff} of a copy, taken
     * from the copies that earlier steps' destroyed handoffs gave back, so that a step allocates none.
     */
    static Broadcast<Parameters[]> ofShared(org.apache.spark.api.java.JavaSparkContext sc, Parameters shared) {
        if (!sc.isLocal()) return sc.broadcast(new Parameters[]{shared});
        Parameters copy = null;
        for (java.lang.ref.SoftReference<Parameters> r : SPARE_COPIES) {
            Parameters p = r.get();
            // remove() decides between two trainers' steps reaching for the same copy
            if (p != null && p.layout().equals(shared.layout()) && p.precision() == shared.precision() && SPARE_COPIES.remove(r)) {
                copy = p;
                break;
            }
        }
        if (copy == null) copy = shared.copy();
        else copy.flat().copyFrom(shared.flat());
        Parameters kept = copy;
        return new LocalHandoff<>(new Parameters[]{kept}, v -> {
            SPARE_COPIES.removeIf(r -> r.get() == null);
            // newest last, oldest dropped: copies of a finished trainer's layout must not crowd out a running one's
            SPARE_COPIES.addLast(new java.lang.ref.SoftReference<>(kept));
            while (SPARE_COPIES.size() > MAX_SPARE_COPIES) SPARE_COPIES.pollFirst();
        });
    }

    /**
     * A broadcast that serialises as a key into this JVM's table of handed-off values (local mode
     * only: a task that deserialises it elsewhere finds nothing and fails). Destroying it drops the entry.
     */
    static final class LocalHandoff<T> extends Broadcast<T> {
        private static final long serialVersionUID = 1L;
        private static final java.util.concurrent.atomic.AtomicLong NEXT = new java.util.concurrent.atomic.AtomicLong();
        private static final java.util.Map<Long, Object> VALUES = new java.util.concurrent.ConcurrentHashMap<>();
        /** Called with the value when the driver's instance is destroyed (null: nothing; tasks' copies have none). */
        private final transient java.util.function.Consumer<T> onDestroy;

        LocalHandoff(T value) {
            this(value, null);
        }

        @SuppressWarnings("unchecked")
        LocalHandoff(T value, java.util.function.Consumer<T> onDestroy) {
            // negative ids: never one of Spark's broadcast ids in logs
            super(-1 - NEXT.getAndIncrement(), (scala.reflect.ClassTag<T>) scala.reflect.ClassTag$.MODULE$.AnyRef());
            this.onDestroy = onDestroy;
            VALUES.put(id(), value);
        }

        @Override
        @SuppressWarnings("unchecked")
        public T getValue() {
            Object v = VALUES.get(id());
            if (v == null) throw new IllegalStateException("local handoff " + id() + " read after its step, or outside the driver's JVM");
            return (T) v;
        }

        @Override
        public void doUnpersist(boolean blocking) {
        }

        @Override
        @SuppressWarnings("unchecked")
        public void doDestroy(boolean blocking) {
            Object v = VALUES.remove(id());
            if (v != null && onDestroy != null) onDestroy.accept((T) v);
        }
    }
}
