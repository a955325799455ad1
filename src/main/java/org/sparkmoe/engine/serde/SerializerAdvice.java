package org.sparkmoe.engine.serde;

import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Training works under Spark's Java serializer and under Kryo with {@link MoEKryoRegistrator} (with or
 * without {@code spark.kryo.registrationRequired}): every type that crosses a task boundary is
 * {@link java.io.Serializable} (compactly: matrices and parameters travel as primitive arrays) and
 * registered with Kryo by the registrator. Kryo is faster, so a Java-serializer session gets one warning
 * line per JVM saying how to switch. Kryo without the registrator cannot write spark-moe's records
 * (Kryo 4's field serializer refuses Java records), so that session is refused up front with the fix.
 */
public final class SerializerAdvice {
    private static final Logger LOG = LoggerFactory.getLogger(SerializerAdvice.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();
    static final String KRYO = KryoSerializer.class.getName();
    static final String REGISTRATOR = MoEKryoRegistrator.class.getName();

    private SerializerAdvice() {
    }

    /** The warning for this configuration: present unless the session runs Kryo. */
    public static Optional<String> warning(SparkConf conf) {
        String serializer = serializer(conf);
        if (serializer.equals(KRYO)) return Optional.empty();
        return Optional.of("spark-moe: spark.serializer is " + serializer + "; training works but Kryo is faster: set "
                + "spark.serializer=" + KRYO + " and spark.kryo.registrator=" + REGISTRATOR + " (conf/spark-defaults.conf)");
    }

    /**
     * Checks a session before training: refuses Kryo without {@link MoEKryoRegistrator} (naming the
     * setting to add), and logs {@link #warning} at WARN once per JVM.
     *
     * @throws IllegalStateException when the session runs Kryo without the registrator
     */
    public static void check(SparkConf conf) {
        if (serializer(conf).equals(KRYO)
                && !java.util.Arrays.asList(conf.get("spark.kryo.registrator", "").trim().split("\\s*,\\s*")).contains(REGISTRATOR)) {
            throw new IllegalStateException("spark-moe: spark.serializer is Kryo but spark.kryo.registrator does not include "
                    + REGISTRATOR + " (it is " + conf.get("spark.kryo.registrator", "unset") + "); add it (comma-separated) "
                    + "before the session starts, or use Spark's default Java serializer. See conf/spark-defaults.conf.");
        }
        warning(conf).ifPresent(w -> {
            if (WARNED.compareAndSet(false, true)) LOG.warn(w);
        });
    }

    private static String serializer(SparkConf conf) {
        return conf.get("spark.serializer", "org.apache.spark.serializer.JavaSerializer").trim();
    }
}
