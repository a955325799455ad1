package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.spark.HashPartitioner;
import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.shuffle.BaseShuffleHandle;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import scala.Tuple2;

/**
 * {@link Shuffles#partitionBy}'s shuffle ({@link SingleWriteShuffle}): Spark's sort-based writer (one map
 * output file, no per-reduce-partition temporary files), and every record delivered once to its
 * partitioner's partition, also when keys repeat within and across map tasks, and when both sides
 * spill, under Kryo with registration required and under Java serialization.
 */
class SingleWriteShuffleTest {

    @AfterAll
    static void restoreSharedContext() {
        SparkTestContext.stop();
    }

    /** Keys 0..6 repeated within and across the 3 map partitions, values unique. */
    private static List<Tuple2<Integer, String>> records() {
        List<Tuple2<Integer, String>> r = new ArrayList<>();
        for (int i = 0; i < 60; i++) r.add(new Tuple2<>(i % 7, "v" + i));
        return r;
    }

    /** Sums of the finished tasks' shuffle and spill metrics. */
    private static final class Metrics extends SparkListener {
        final AtomicLong bytesWritten = new AtomicLong();
        final AtomicLong recordsWritten = new AtomicLong();
        final AtomicLong bytesRead = new AtomicLong();
        final AtomicLong diskSpilled = new AtomicLong();

        @Override
        public void onTaskEnd(SparkListenerTaskEnd end) {
            TaskMetrics m = end.taskMetrics();
            if (m == null) return;
            bytesWritten.addAndGet(m.shuffleWriteMetrics().bytesWritten());
            recordsWritten.addAndGet(m.shuffleWriteMetrics().recordsWritten());
            bytesRead.addAndGet(m.shuffleReadMetrics().totalBytesRead());
            diskSpilled.addAndGet(m.diskBytesSpilled());
        }
    }

    /** Shuffles {@link #records()} and checks what arrived where; the metrics of that job. */
    private static Metrics checkDelivered(JavaSparkContext sc) throws TimeoutException {
        Metrics metrics = new Metrics();
        sc.sc().addSparkListener(metrics);
        HashPartitioner partitioner = new HashPartitioner(4);
        JavaPairRDD<Integer, String> shuffled = Shuffles.partitionBy(sc.parallelizePairs(records(), 3), partitioner);
        assertSame(partitioner, shuffled.rdd().partitioner().get());
        List<Tuple2<Integer, String>> got = new ArrayList<>(shuffled.mapPartitionsWithIndex((p, it) -> {
            List<Tuple2<Integer, String>> out = new ArrayList<>();
            it.forEachRemaining(kv -> {
                if (partitioner.getPartition(kv._1()) != p) throw new IllegalStateException(kv + " in partition " + p);
                out.add(kv);
            });
            return out.iterator();
        }, true).collect());
        List<Tuple2<Integer, String>> want = records();
        Comparator<Tuple2<Integer, String>> order = Comparator.comparing((Tuple2<Integer, String> t) -> t._2());
        got.sort(order);
        want.sort(order);
        assertEquals(want, got);
        sc.sc().listenerBus().waitUntilEmpty();
        sc.sc().removeSparkListener(metrics);
        return metrics;
    }

    @Test
    void writesThroughTheSortWriterAndDeliversEveryRecordOnce() throws TimeoutException {
        JavaSparkContext sc = SparkTestContext.get();
        Metrics metrics = checkDelivered(sc);
        // the shuffle metrics (EngineBenchmark's "MB shuffled/step") are kept; a map task writes one record per key, its values together
        assertTrue(metrics.bytesWritten.get() > 0, "bytes written " + metrics.bytesWritten);
        assertEquals(metrics.bytesWritten.get(), metrics.bytesRead.get());
        assertEquals(3 * 7, metrics.recordsWritten.get());
        assertEquals(0, metrics.diskSpilled.get());
        JavaPairRDD<Integer, String> shuffled = Shuffles.partitionBy(sc.parallelizePairs(records(), 3), new HashPartitioner(4));
        ShuffleDependency<?, ?, ?> dep = (ShuffleDependency<?, ?, ?>) shuffled.rdd().dependencies().head();
        assertTrue(dep.mapSideCombine());
        // BaseShuffleHandle exactly: SortShuffleWriter; its subclasses would pick the bypass (two writes) or serialized writer
        assertSame(BaseShuffleHandle.class, dep.shuffleHandle().getClass());
    }

    @Test
    void spillsOnBothSidesUnderEitherSerializer() throws TimeoutException {
        for (String serializer : new String[]{"org.apache.spark.serializer.KryoSerializer", "org.apache.spark.serializer.JavaSerializer"}) {
            SparkTestContext.stop();
            SparkConf conf = SparkTestContext.conf("local[2]").set("spark.serializer", serializer)
                    // spill after every record: the map side's sorter and the reduce side's merge both go through disk
                    .set("spark.shuffle.spill.numElementsForceSpillThreshold", "0");
            JavaSparkContext sc = new JavaSparkContext(conf);
            try {
                assertTrue(checkDelivered(sc).diskSpilled.get() > 0, "nothing spilled under " + serializer);
            } finally {
                sc.stop();
            }
        }
    }
}
