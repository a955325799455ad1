package org.sparkmoe.engine;

import java.nio.ByteBuffer;

import org.apache.spark.Partition;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.storage.RDDBlockId;

import scala.collection.immutable.Seq;
import scala.reflect.ClassTag;

/**
 * The training data as a step's RDDs read it: the persisted row blocks, without their lineage in
 * every task. A Spark task carries the whole lineage of its RDD in its serialised binary, and every
 * task deserialises it again; the engine's data usually comes from a DataFrame (an estimator's fit),
 * whose lineage holds the SQL plan's closures: about 26 KB, 2-3 ms of CPU per task to read, 8 times a
 * step in the local-routing classifier (BENCHMARKS.md, "Session-6 fit work").
 *
 * <p>On the driver a tap is an ordinary child of the data (a one-to-one dependency, the data's
 * partitions), so the scheduler sees the cached blocks and their locations as before. What a task
 * gets instead ({@code writeReplace}) is a {@link Reader}: the data RDD's id, and the data RDD
 * serialised once on the driver, as plain bytes. The reader returns the partition's cached block
 * from the block manager (local or remote) when there is one, which is every step after the first;
 * only when there is none (the first step, or the block was lost with an executor) does it
 * deserialise the lineage, a fresh copy for that task as Spark would, and read the partition
 * through it, which computes and caches the block: so recovery is unchanged.
 */
final class DataTap<T> extends RDD<T> {
    private static final long serialVersionUID = 1L;

    private final transient RDD<T> data;
    private final transient Reader<T> reader;

    /** @param data the training data (persisted: otherwise every task reads through the lineage) */
    DataTap(RDD<T> data) {
        super(data, data.elementClassTag());
        this.data = data;
        data.partitions();  // resolved before serialising, as the scheduler does
        ByteBuffer b = new JavaSerializer(data.sparkContext().getConf()).newInstance()
                .serialize(data, scala.reflect.ClassTag$.MODULE$.AnyRef());
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        this.reader = new Reader<>(data.sparkContext(), data.id(), bytes, data.elementClassTag());
    }

    /** What a task deserialises in place of this tap. */
    private Object writeReplace() {
        return reader;
    }

    /** Never run from a task (they get the reader); the reader's reading where it is. */
    @Override
    public scala.collection.Iterator<T> compute(Partition split, TaskContext context) {
        return reader.compute(split, context);
    }

    @Override
    public Partition[] getPartitions() {
        return data.partitions();
    }

    /** The executor side of a {@link DataTap}: built on the driver, never scheduled itself; no dependencies. */
    static final class Reader<T> extends RDD<T> {
        private static final long serialVersionUID = 1L;
        private final int dataId;
        private final byte[] lineage;
        private final ClassTag<T> tag;

        Reader(org.apache.spark.SparkContext sc, int dataId, byte[] lineage, ClassTag<T> tag) {
            super(sc, scala.collection.immutable.List$.MODULE$.<org.apache.spark.Dependency<?>>empty(), tag);
            this.dataId = dataId;
            this.lineage = lineage;
            this.tag = tag;
        }

        @Override
        @SuppressWarnings("unchecked")
        public scala.collection.Iterator<T> compute(Partition split, TaskContext context) {
            // a read lock on a local block is released when the iterator is exhausted, or at the task's end
            scala.Option<org.apache.spark.storage.BlockResult> cached = SparkEnv.get().blockManager()
                    .get(new RDDBlockId(dataId, split.index()), tag);
            if (cached.isDefined()) return (scala.collection.Iterator<T>) cached.get().data();
            RDD<T> data = (RDD<T>) SparkEnv.get().closureSerializer().newInstance().deserialize(ByteBuffer.wrap(lineage),
                    Thread.currentThread().getContextClassLoader(), scala.reflect.ClassTag$.MODULE$.AnyRef());
            return data.iterator(split, context);
        }

        @Override
        public Partition[] getPartitions() {
            throw new UnsupportedOperationException("a data tap's reader is never scheduled");
        }

        @Override
        public Seq<String> getPreferredLocations(Partition split) {
            return scala.collection.immutable.List$.MODULE$.empty();
        }
    }
}
