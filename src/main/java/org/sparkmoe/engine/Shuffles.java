package org.sparkmoe.engine;

import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.sparkmoe.engine.serde.ExecutorSerializer;

import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * The engine's shuffles: {@link JavaPairRDD#partitionBy} with the JVM's long-lived serializer
 * ({@link ExecutorSerializer}), so that a shuffle task reuses the executor's Kryo instances instead
 * of building new ones for every stream it opens, and with a map side that writes each byte once
 * ({@link SingleWriteShuffle}).
 */
public final class Shuffles {
    private Shuffles() {
    }

    /** {@code rdd} partitioned by {@code partitioner} (no shuffle when it already is). */
    public static <K, V> JavaPairRDD<K, V> partitionBy(JavaPairRDD<K, V> rdd, Partitioner partitioner) {
        if (rdd.rdd().partitioner().isDefined() && rdd.rdd().partitioner().get().equals(partitioner)) return rdd;
        return new JavaPairRDD<>(SingleWriteShuffle.of(rdd.rdd(), partitioner), anyTag(), anyTag());
    }

    @SuppressWarnings("unchecked")
    private static <T> ClassTag<T> anyTag() {
        return (ClassTag<T>) ClassTag$.MODULE$.AnyRef();
    }
}
