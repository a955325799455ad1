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
     * (driver-held parameters, {@link DriverExperts#endStep}); the sharded placement keeps its step
     * broadcasts for the expert state's lineage, and a real broadcast's blocks then hold the step's values.
     */
    static <T> Broadcast<T> of(org.apache.spark.api.java.JavaSparkContext sc, T value) {
        return sc.isLocal() ? new LocalHandoff<>(value) : sc.broadcast(value);
    }

    /**
     * A broadcast that serialises as a key into this JVM's table of handed-off values (local mode
     * only: a task that deserialises it elsewhere finds nothing and fails). Destroying it drops the entry.
     */
    static final class LocalHandoff<T> extends Broadcast<T> {
        private static final long serialVersionUID = 1L;
        private static final java.util.concurrent.atomic.AtomicLong NEXT = new java.util.concurrent.atomic.AtomicLong();
        private static final java.util.Map<Long, Object> VALUES = new java.util.concurrent.ConcurrentHashMap<>();

        @SuppressWarnings("unchecked")
        LocalHandoff(T value) {
            // negative ids: never one of Spark's broadcast ids in logs
            super(-1 - NEXT.getAndIncrement(), (scala.reflect.ClassTag<T>) scala.reflect.ClassTag$.MODULE$.AnyRef());
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
        public void doDestroy(boolean blocking) {
            VALUES.remove(id());
        }
    }
}
