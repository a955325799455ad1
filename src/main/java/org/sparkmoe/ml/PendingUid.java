package org.sparkmoe.ml;

/**
 * The uid of a stage under construction. MLlib's Scala base classes create their params in their
 * constructors, calling {@code uid()} before a Java subclass has assigned its field; the subclass's
 * constructor hands its uid over here in the argument list of {@code this(...)} (evaluated before
 * the superclass constructor runs) and its {@code uid()} answers {@link #resolve} until the field is set.
 */
final class PendingUid {
    private static final ThreadLocal<String> PENDING = new ThreadLocal<>();

    private PendingUid() {
    }

    /** Holds {@code uid} for the constructor about to run on this thread; returns it. */
    static String hold(String uid) {
        PENDING.set(uid);
        return uid;
    }

    /** The stage's field once set, else the held uid. */
    static String resolve(String field) {
        return field != null ? field : PENDING.get();
    }

    static void release() {
        PENDING.remove();
    }
}
