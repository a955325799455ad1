package org.sparkmoe.engine.serde;

import java.io.ObjectStreamException;

import org.apache.spark.SparkEnv;
import org.apache.spark.serializer.Serializer;
import org.apache.spark.serializer.SerializerInstance;

/**
 * The session's serializer ({@code spark.serializer}) as the JVM's own long-lived instance, for the
 * engine's shuffles. A shuffle dependency carries its serializer inside every task, and each task
 * deserializes its own copy; a {@code KryoSerializer} copy starts with an empty Kryo pool, so every
 * shuffle task built new Kryo instances (Spark's and our registrations, one per open stream: a
 * map task writes one stream per reduce partition at once) - a fifth of the task time of a small
 * model's step in a JFR profile. This serializer travels as a token and resolves, wherever it is
 * read, to {@code SparkEnv.get().serializer()}: the same class and settings the shuffle would use
 * by default, with its pool kept for the life of the JVM. Bytes written are exactly the default's.
 */
public final class ExecutorSerializer extends Serializer implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private static final ExecutorSerializer INSTANCE = new ExecutorSerializer();

    private ExecutorSerializer() {
    }

    /** The token; call where a shuffle is built (the driver). */
    public static ExecutorSerializer get() {
        return INSTANCE;
    }

    private static Serializer env() {
        SparkEnv env = SparkEnv.get();
        if (env == null) throw new IllegalStateException("no SparkEnv in this JVM: ExecutorSerializer is for Spark tasks");
        return env.serializer();
    }

    @Override
    public SerializerInstance newInstance() {
        return env().newInstance();
    }

    @Override
    public boolean supportsRelocationOfSerializedObjects() {
        return env().supportsRelocationOfSerializedObjects();
    }

    @Override
    public Serializer setDefaultClassLoader(ClassLoader classLoader) {
        // the environment's serializer already has the executor's class loader
        return this;
    }

    /** One token per JVM: nothing to carry but the class. */
    private Object readResolve() throws ObjectStreamException {
        return INSTANCE;
    }
}
