package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;

/**
 * Kryo serializers for the engine's wire types (registered by
 * {@link org.sparkmoe.engine.serde.MoEKryoRegistrator}). Each writes a format-version byte first;
 * nested matrices and parameters use their own registered serializers.
 */
public final class EngineSerializers {
    /** 2: PartitionResult carries the local-routed partition's expert gradients. */
    static final int VERSION = 2;

    private EngineSerializers() {
    }

    /**
     * Registers the per-step state the engine caches (data-partition and expert-shard state with
     * their gating, routing and expert workspaces) with Kryo's field serializer. These are cached
     * in memory, but Spark serialises a cached block when a task on another executor reads it;
     * unregistered, that read fails and the partition is recomputed, and the sender may keep the
     * block locked.
     */
    public static void registerStepState(Kryo kryo) {
        Class<?>[] classes = {
            PartitionStep.class, PartitionStep.Combined.class, ShardStep.class,
            org.sparkmoe.core.network.Batch.class, org.sparkmoe.core.layer.Routing.class,
            org.sparkmoe.core.gating.GatingState.class, org.sparkmoe.core.gating.GatingState[].class,
            org.sparkmoe.core.gating.NoisyTopKGating.State.class, org.sparkmoe.core.gating.HierarchicalGating.State.class,
            org.sparkmoe.core.expert.ExpertWorkspace.class, org.sparkmoe.core.expert.ExpertWorkspace[].class,
            java.util.ArrayList.class, long[][].class, int[][].class,
        };
        for (Class<?> c : classes) kryo.register(c);
    }

    static void writeVersion(Output out) {
        out.writeByte(VERSION);
    }

    static void readVersion(Input in, Class<?> type) {
        int v = in.readByte();
        if (v != VERSION) {
            throw new IllegalStateException("cannot read " + type.getSimpleName() + ": serialization format version " + v
                    + " is unknown; this build of spark-moe reads version " + VERSION);
        }
    }

    private static void writeLongs(Output out, long[] a) {
        out.writeInt(a.length, true);
        out.writeLongs(a);
    }

    private static long[] readLongs(Input in) {
        return in.readLongs(in.readInt(true));
    }

    private static void writeInts(Output out, int[] a) {
        out.writeBoolean(a != null);
        if (a == null) return;
        out.writeInt(a.length, true);
        out.writeInts(a);
    }

    private static int[] readInts(Input in) {
        if (!in.readBoolean()) return null;
        return in.readInts(in.readInt(true));
    }

    private static void writeFloats(Output out, float[] a) {
        out.writeBoolean(a != null);
        if (a == null) return;
        out.writeInt(a.length, true);
        out.writeFloats(a);
    }

    private static float[] readFloats(Input in) {
        if (!in.readBoolean()) return null;
        return in.readFloats(in.readInt(true));
    }

    /** Columnar arrays as they are. */
    public static final class RowBlockSerializer extends Serializer<RowBlock> {
        @Override
        public void write(Kryo kryo, Output out, RowBlock b) {
            writeVersion(out);
            RowBlock.Columns c = b.columns();
            writeLongs(out, c.ids());
            out.writeInt(c.context(), true);
            writeInts(out, c.tokens());
            out.writeInt(c.featureDim(), true);
            writeFloats(out, c.features());
            writeInts(out, c.labels());
            out.writeInt(c.targetDim(), true);
            writeFloats(out, c.targets());
            writeFloats(out, c.weights());
        }

        @Override
        public RowBlock read(Kryo kryo, Input in, Class<RowBlock> type) {
            readVersion(in, RowBlock.class);
            return RowBlock.fromColumns(new RowBlock.Columns(readLongs(in), in.readInt(true), readInts(in), in.readInt(true),
                    readFloats(in), readInts(in), in.readInt(true), readFloats(in), readFloats(in)));
        }
    }

    /**
     * Partition, the segments (expert, rows), then the rows of all parts one after another (only a
     * view's own elements travel, without a copy): float32 rows of a {@code bf16} block as bfloat16
     * (2 bytes each), any other rows in their precision. Read back as one compact matrix, float32 rows
     * into the shuffle-read arena open on the reading thread, if any ({@link PartitionBuffers.ReadArena}).
     */
    public static final class ShuffleBlockSerializer extends Serializer<ShuffleBlock> {
        private static final int F32 = 0;
        private static final int F64 = 1;

        @Override
        public void write(Kryo kryo, Output out, ShuffleBlock b) {
            writeVersion(out);
            out.writeInt(b.partition(), true);
            int segments = b.segments();
            out.writeInt(segments, true);
            for (int i = 0; i < segments; i++) {
                out.writeInt(b.segmentExpert(i), false);
                out.writeInt(b.segmentRows(i), true);
            }
            Matrix[] parts = b.parts();
            boolean f32 = true;
            for (Matrix m : parts) f32 &= m instanceof org.sparkmoe.core.linalg.FloatMatrix;
            boolean half = b.bf16() && f32;
            out.writeBoolean(half);
            out.writeByte(f32 ? F32 : F64);
            out.writeInt(parts[0].cols(), true);
            for (Matrix m : parts) {
                if (half) {
                    org.sparkmoe.core.linalg.FloatMatrix f = (org.sparkmoe.core.linalg.FloatMatrix) m;
                    float[] d = f.data();
                    for (int i = f.offset(), e = f.offset() + f.size(); i < e; i++) out.writeShort(toBf16(d[i]));
                } else {
                    org.sparkmoe.engine.serde.MoESerializers.writeElements(out, m);
                }
            }
        }

        @Override
        public ShuffleBlock read(Kryo kryo, Input in, Class<ShuffleBlock> type) {
            readVersion(in, ShuffleBlock.class);
            int p = in.readInt(true);
            int segments = in.readInt(true);
            int[] experts = new int[segments];
            int[] counts = new int[segments];
            long rows = 0;
            for (int i = 0; i < segments; i++) {
                experts[i] = in.readInt(false);
                counts[i] = in.readInt(true);
                rows += counts[i];
            }
            boolean half = in.readBoolean();
            int precision = in.readByte();
            int cols = in.readInt(true);
            int n = Math.toIntExact(rows * cols);
            Matrix m;
            org.sparkmoe.core.linalg.FloatMatrix pooled = half || precision == F32 ? PartitionBuffers.ReadArena.take((int) rows, cols) : null;
            if (half) {
                org.sparkmoe.core.linalg.FloatMatrix f = pooled != null ? pooled : new org.sparkmoe.core.linalg.FloatMatrix((int) rows, cols);
                float[] d = f.data();
                for (int i = f.offset(), e = i + n; i < e; i++) d[i] = Float.intBitsToFloat((in.readShort() & 0xffff) << 16);
                m = f;
            } else if (pooled != null) {
                readFloats(in, pooled.data(), pooled.offset(), n);
                m = pooled;
            } else if (precision == F32) {
                m = new org.sparkmoe.core.linalg.FloatMatrix(in.readFloats(n), 0, (int) rows, cols);
            } else {
                m = new org.sparkmoe.core.linalg.DoubleMatrix(in.readDoubles(n), 0, (int) rows, cols);
            }
            return new ShuffleBlock(p, experts, counts, new Matrix[]{m}, half);
        }
    }

    /**
     * {@code n} floats into {@code a} from {@code off}, as {@code Input.readFloats} reads them (straight
     * into the array from Spark's unsafe Kryo input, in its native byte order).
     */
    private static void readFloats(Input in, float[] a, int off, int n) {
        if (in instanceof com.esotericsoftware.kryo.io.UnsafeInput u) {
            u.readBytes(a, com.esotericsoftware.kryo.util.UnsafeUtil.floatArrayBaseOffset + 4L * off, 4L * n);
            return;
        }
        for (int i = off, e = off + n; i < e; i++) a[i] = in.readFloat();
    }

    /** The bfloat16 nearest to {@code v} (ties to even; NaN stays NaN), as its 16 bits. */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40); // quiet NaN
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    public static final class PartitionResultSerializer extends Serializer<PartitionResult> {
        @Override
        public void write(Kryo kryo, Output out, PartitionResult r) {
            writeVersion(out);
            out.writeInt(r.partition(), true);
            kryo.writeObjectOrNull(out, r.sharedGrad(), Parameters.class);
            out.writeDouble(r.lossSum());
            out.writeInt(r.examples(), true);
            out.writeDouble(r.weightSum());
            kryo.writeObjectOrNull(out, r.stats(), double[].class);
            kryo.writeObjectOrNull(out, r.expertCounts(), int[].class);
            out.writeDouble(r.expertSumOfSquares());
            Parameters[] eg = r.expertGrads();
            out.writeInt(eg == null ? 0 : eg.length + 1, true);
            if (eg != null) for (Parameters g : eg) kryo.writeObjectOrNull(out, g, Parameters.class);
        }

        @Override
        public PartitionResult read(Kryo kryo, Input in, Class<PartitionResult> type) {
            readVersion(in, PartitionResult.class);
            int p = in.readInt(true);
            Parameters g = kryo.readObjectOrNull(in, Parameters.class);
            double loss = in.readDouble();
            int examples = in.readInt(true);
            double weightSum = in.readDouble();
            double[] stats = kryo.readObjectOrNull(in, double[].class);
            int[] counts = kryo.readObjectOrNull(in, int[].class);
            double sq = in.readDouble();
            int n = in.readInt(true) - 1;
            Parameters[] eg = n < 0 ? null : new Parameters[n];
            for (int e = 0; e < n; e++) eg[e] = kryo.readObjectOrNull(in, Parameters.class);
            return new PartitionResult(p, g, loss, examples, weightSum, stats, counts, sq, eg);
        }
    }

    public static final class ExpertGradsSerializer extends Serializer<ExpertGrads> {
        @Override
        public void write(Kryo kryo, Output out, ExpertGrads g) {
            writeVersion(out);
            out.writeInt(g.shard(), true);
            writeInts(out, g.experts());
            for (Parameters p : g.grads()) kryo.writeObject(out, p);
        }

        @Override
        public ExpertGrads read(Kryo kryo, Input in, Class<ExpertGrads> type) {
            readVersion(in, ExpertGrads.class);
            int shard = in.readInt(true);
            int[] experts = readInts(in);
            Parameters[] grads = new Parameters[experts.length];
            for (int i = 0; i < grads.length; i++) grads[i] = kryo.readObject(in, Parameters.class);
            return new ExpertGrads(shard, experts, grads);
        }
    }

    public static final class ExpertShardSerializer extends Serializer<ExpertShard> {
        @Override
        public void write(Kryo kryo, Output out, ExpertShard s) {
            writeVersion(out);
            out.writeInt(s.shard, true);
            writeInts(out, s.experts);
            for (int i = 0; i < s.experts.length; i++) {
                kryo.writeObject(out, s.params[i]);
                kryo.writeObject(out, s.states[i]);
            }
        }

        @Override
        public ExpertShard read(Kryo kryo, Input in, Class<ExpertShard> type) {
            readVersion(in, ExpertShard.class);
            int shard = in.readInt(true);
            int[] experts = readInts(in);
            Parameters[] p = new Parameters[experts.length];
            OptimiserState[] o = new OptimiserState[experts.length];
            for (int i = 0; i < experts.length; i++) {
                p[i] = kryo.readObject(in, Parameters.class);
                o[i] = kryo.readObject(in, OptimiserState.class);
            }
            return new ExpertShard(shard, experts, p, o);
        }
    }
}
