package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import org.apache.spark.Aggregator;
import org.apache.spark.Partition;
import org.apache.spark.Partitioner;
import org.apache.spark.TaskContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.rdd.ShuffledRDD;
import org.sparkmoe.engine.serde.ExecutorSerializer;

import scala.Product2;
import scala.Tuple2;
import scala.collection.AbstractIterator;
import scala.collection.Iterator;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractFunction2;

/**
 * A shuffle whose map tasks write every byte once, into the map output file. A plain
 * {@code partitionBy} (no aggregator, at most 200 reduce partitions) gets Spark's
 * {@code BypassMergeSortShuffleWriter}, which writes each reduce partition to a temporary file,
 * copies them all into the map output file and deletes them: every shuffled byte written twice
 * (a fifth of the task time of the paper-shape step, most of it in {@code write} calls). A map-side
 * combine is the one per-dependency setting that selects Spark's sort-based writer instead
 * ({@code SortShuffleWriter}), whose {@code ExternalSorter} holds the records in memory and writes
 * them, sorted by reduce partition, straight into the map output file, with the same shuffle
 * metrics and checksums. The "combine" keeps every value: a value is its own combiner (so the
 * bytes on the wire are those of a plain shuffle), and values that meet under one key, within a
 * map task or from several on the reduce side, go into a {@link Values} list that {@link #compute}
 * unpacks again. The reduce side's order is any, as a plain shuffle's fetch order is: every
 * consumer sorts its records into a fixed order.
 *
 * <p>Memory: Spark's spillable collections ask for memory (and may spill) only every 32 records;
 * the engine's shuffles have one record per (map task, reduce partition), so with fewer than 32
 * reduce partitions a map task, and 32 map tasks a reduce task, nothing is counted or spilled, as
 * with the bypass writer. Past that, under memory pressure, a side may spill its records to disk
 * (serialised by the session's serializer, {@link Values} included) and merge them back.
 */
public final class SingleWriteShuffle<K, V> extends ShuffledRDD<K, V, Object> {
    private static final long serialVersionUID = 1L;

    @SuppressWarnings({"unchecked", "rawtypes"})
    private SingleWriteShuffle(RDD<? extends Product2<K, V>> prev, Partitioner partitioner) {
        super(prev, partitioner, (ClassTag) anyTag(), (ClassTag) anyTag(), anyTag());
        setSerializer(ExecutorSerializer.get());
        setAggregator(new Aggregator<K, V, Object>(new Identity<>(), new Append<>(), new Append<>()));
        setMapSideCombine(true);
    }

    /** {@code prev} shuffled to {@code partitioner}'s partitions, each value once, with its key. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static <K, V> RDD<Tuple2<K, V>> of(RDD<? extends Product2<K, V>> prev, Partitioner partitioner) {
        return (RDD) new SingleWriteShuffle<>(prev, partitioner);
    }

    /**
     * The reduce side reads (and merges) all its records when first asked for one, not when the task
     * builds its iterators: the engine's consumers open a pooled read arena
     * ({@link PartitionBuffers.ReadArena}) around their reads, and a read before it would allocate every row.
     */
    @Override
    public Iterator<Tuple2<K, Object>> compute(Partition split, TaskContext context) {
        return new Unpacked<>(() -> super.compute(split, context));
    }

    @SuppressWarnings("unchecked")
    private static <T> ClassTag<T> anyTag() {
        return (ClassTag<T>) ClassTag$.MODULE$.AnyRef();
    }

    /**
     * The values that met under one key (never a value of the shuffle itself: the engine shuffles
     * its own record types). Serialisable by Java and by Kryo ({@link ValuesSerializer}), for the
     * rare map task with two records under one key and for spills.
     */
    public static final class Values implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final ArrayList<Object> items;

        Values(ArrayList<Object> items) {
            this.items = items;
        }

        /** {@code c} (a value or a list) with {@code more} (a value or a list) after it. */
        static Values append(Object c, Object more) {
            Values v;
            if (c instanceof Values) {
                v = (Values) c;
            } else {
                v = new Values(new ArrayList<>(4));
                v.items.add(c);
            }
            if (more instanceof Values) v.items.addAll(((Values) more).items);
            else v.items.add(more);
            return v;
        }

        List<Object> items() {
            return items;
        }
    }

    /** Kryo's form of {@link Values}: a format-version byte, the count, each item with its class. */
    public static final class ValuesSerializer extends Serializer<Values> {
        @Override
        public void write(Kryo kryo, Output out, Values v) {
            EngineSerializers.writeVersion(out);
            out.writeInt(v.items.size(), true);
            for (Object o : v.items) kryo.writeClassAndObject(out, o);
        }

        @Override
        public Values read(Kryo kryo, Input in, Class<Values> type) {
            EngineSerializers.readVersion(in, Values.class);
            int n = in.readInt(true);
            ArrayList<Object> items = new ArrayList<>(n);
            for (int i = 0; i < n; i++) items.add(kryo.readClassAndObject(in));
            return new Values(items);
        }
    }

    /** Registers {@link Values} (called by the registrator; appended there, so no other class id moves). */
    public static void register(Kryo kryo) {
        kryo.register(Values.class, new ValuesSerializer());
    }

    private static final class Identity<V> extends AbstractFunction1<V, Object> implements java.io.Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public Object apply(V v) {
            return v;
        }
    }

    private static final class Append<V> extends AbstractFunction2<Object, V, Object> implements java.io.Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public Object apply(Object c, V more) {
            return Values.append(c, more);
        }
    }

    /**
     * The reduce side's (key, value or list) pairs as (key, value) pairs, a single value as it is; the
     * shuffle read starts at the first call.
     */
    private static final class Unpacked<K> extends AbstractIterator<Tuple2<K, Object>> {
        private Supplier<Iterator<Tuple2<K, Object>>> read;
        private Iterator<Tuple2<K, Object>> combined;
        private K key;
        private List<Object> pending;
        private int next;

        Unpacked(Supplier<Iterator<Tuple2<K, Object>>> read) {
            this.read = read;
        }

        private Iterator<Tuple2<K, Object>> combined() {
            if (combined == null) {
                combined = read.get();
                read = null;
            }
            return combined;
        }

        @Override
        public boolean hasNext() {
            return (pending != null && next < pending.size()) || combined().hasNext();
        }

        @Override
        public Tuple2<K, Object> next() {
            if (pending != null && next < pending.size()) return new Tuple2<>(key, pending.get(next++));
            Tuple2<K, Object> kc = combined().next();
            if (!(kc._2() instanceof Values)) return kc;
            key = kc._1();
            pending = ((Values) kc._2()).items();
            next = 1;
            return new Tuple2<>(key, pending.get(0));
        }
    }
}
