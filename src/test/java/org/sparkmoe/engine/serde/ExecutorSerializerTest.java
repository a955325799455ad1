package org.sparkmoe.engine.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.List;

import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.ShuffledRDD;
import org.junit.jupiter.api.Test;
import org.sparkmoe.engine.SparkTestContext;

/** The engine's shuffle serializer: every task's copy is the JVM's one token, and it writes with the session's serializer. */
class ExecutorSerializerTest {

    @Test
    void aDeserializedCopyIsTheJvmsInstance() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(ExecutorSerializer.get());
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertSame(ExecutorSerializer.get(), in.readObject());
        }
    }

    @Test
    void shufflesThroughTheSessionsSerializer() {
        JavaSparkContext sc = SparkTestContext.get();
        assertEquals(SparkEnv.get().serializer().newInstance().getClass(), ExecutorSerializer.get().newInstance().getClass());
        ShuffledRDD<Integer, Integer, Integer> shuffled = new ShuffledRDD<Integer, Integer, Integer>(
                sc.parallelizePairs(List.of(new scala.Tuple2<>(1, 10), new scala.Tuple2<>(2, 20), new scala.Tuple2<>(3, 30)), 3).rdd(),
                new org.apache.spark.HashPartitioner(2), scala.reflect.ClassTag$.MODULE$.apply(Integer.class),
                scala.reflect.ClassTag$.MODULE$.apply(Integer.class), scala.reflect.ClassTag$.MODULE$.apply(Integer.class))
                .setSerializer(ExecutorSerializer.get());
        List<scala.Tuple2<Integer, Integer>> out = new java.util.ArrayList<>(new org.apache.spark.api.java.JavaPairRDD<Integer, Integer>(
                shuffled, scala.reflect.ClassTag$.MODULE$.apply(Integer.class), scala.reflect.ClassTag$.MODULE$.apply(Integer.class)).collect());
        out.sort(java.util.Comparator.comparing(scala.Tuple2::_1));
        assertEquals(List.of(new scala.Tuple2<>(1, 10), new scala.Tuple2<>(2, 20), new scala.Tuple2<>(3, 30)), out);
    }
}
