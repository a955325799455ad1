package org.sparkmoe.engine;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.Parameters;

/**
 * The arrays one stage of a shuffle-routed data partition's step writes (x, the dispatch rows, y,
 * dL/dy, dL/dx, the shared gradient, the dOut rows), kept per executor across steps in the
 * {@link ExpertPool} ({@link ExpertPool#recycle}: a set of an earlier, finished step, never one a
 * block of the running step may still reference). Fresh arrays cost a first-touch page fault per
 * 4 KB; with the expert state of n = 256 filling most of the heap, those faults were most of the
 * data-partition stages' growth in n (BENCHMARKS.md, "Session-5 engine work"). Every array handed
 * out is zeroed or overwritten completely by its user before it is read, so a set from the pool
 * gives the same values as a fresh one.
 */
final class PartitionBuffers {
    private final Matrix[] rows = new Matrix[4];
    private final Parameters[] params = new Parameters[1];
    private double[] doubles = new double[0];
    private ReadArena arena;

    /** The set of {@code kind} for data partition {@code partition} in this step (a fresh, unpooled one without a run id). */
    static PartitionBuffers of(StepContext ctx, int partition, ExpertPool.Kind kind) {
        if (ctx.run() == null) return new PartitionBuffers();
        return ExpertPool.recycle(ctx.run(), partition, kind, ctx.step(), PartitionBuffers::new);
    }

    /** Slot {@code slot}'s first {@code m} rows of {@code cols} columns, zeroed if {@code zero} (else stale values). */
    Matrix rows(int slot, Precision precision, int m, int cols, boolean zero) {
        Matrix buf = rows[slot] = Buffers.ensureRows(rows[slot], precision, m, cols);
        Matrix v = buf.topRows(m);
        if (zero) v.fill(0);
        return v;
    }

    /** At least {@code n} doubles, stale values. */
    double[] doubles(int n) {
        return doubles = Buffers.ensure(doubles, n);
    }

    /** Slot {@code slot} as zeros in the layout and precision of {@code like}. */
    Parameters zerosLike(int slot, Parameters like) {
        Parameters p = params[slot];
        if (p == null || !sameShape(p, like)) return params[slot] = like.zerosLike();
        p.flat().fill(0);
        return p;
    }

    /** Slot {@code slot} holding a copy of {@code src}. */
    Parameters copyOf(int slot, Parameters src) {
        Parameters p = params[slot];
        if (p == null || !sameShape(p, src)) return params[slot] = src.copy();
        p.flat().copyFrom(src.flat());
        return p;
    }

    private static boolean sameShape(Parameters a, Parameters b) {
        return a.layout().equals(b.layout()) && a.precision() == b.precision();
    }

    /** This set's arena for a shuffle read. */
    ReadArena arena() {
        if (arena == null) arena = new ReadArena();
        return arena;
    }

    /**
     * Where {@link EngineSerializers.ShuffleBlockSerializer} puts the float32 rows of the blocks a
     * task reads from a shuffle while the arena is {@linkplain #open open} on that thread (Spark
     * deserialises a shuffle read lazily, in the thread that iterates it). The reader must hold no
     * block past the scope: the arena is a pooled set's, and the next step overwrites it.
     */
    static final class ReadArena {
        private static final ThreadLocal<ReadArena> CURRENT = new ThreadLocal<>();
        private float[] floats;
        /** Floats this scope's read needs room for: the expected size, else what the last read asked for. */
        private int needed;
        private int used;
        /** Floats the reads of the current (or last) scope asked for, whether they fit or not. */
        private long demanded;

        /**
         * In use on this thread until the scope closes, for a read expected to hold {@code expected}
         * float32 values (0: unknown; then as many as the last read asked for). The array is allocated
         * at the first block read into it, an eighth larger than that, and grown (by at least half)
         * only when it is smaller than that: an arena that held the last read is kept however little
         * room it has left, since the size of an expert shard's read wanders by a few percent with the
         * routing; a block that does not fit gets an array of its own.
         */
        Scope open(long expected) {
            needed = Math.toIntExact(Math.min(Integer.MAX_VALUE - 8, Math.max(expected, demanded)));
            used = 0;
            demanded = 0;
            ReadArena previous = CURRENT.get();
            CURRENT.set(this);
            return () -> CURRENT.set(previous);
        }

        /** A rows x cols float32 matrix from the arena open on this thread (outside it when full), or null when none is open. */
        static FloatMatrix take(int rows, int cols) {
            ReadArena a = CURRENT.get();
            if (a == null) return null;
            int n = Math.multiplyExact(rows, cols);
            a.demanded += n;
            if (a.floats == null || a.floats.length < a.needed) {
                // an eighth of headroom, and growth by half again, as the shard's activation arena has: a read's size
                // wanders with the routing. Growing whenever the last read plus an eighth exceeded the arena (as
                // before) reallocated an expert shard's arena (28 MB at the proxy shape) in the timed steps of n = 256
                // for a read 0.5% larger than the first (BENCHMARKS.md, "Session-7 engine work")
                long grown = a.floats == null ? 0 : a.floats.length + (a.floats.length >> 1);
                a.floats = new float[(int) Math.min(Integer.MAX_VALUE - 8, Math.max(a.needed + ((long) a.needed >> 3), grown))];
            }
            if (a.floats.length - a.used < n) return new FloatMatrix(rows, cols);
            FloatMatrix m = new FloatMatrix(a.floats, a.used, rows, cols);
            a.used += n;
            return m;
        }

        /** An open arena's scope. */
        interface Scope extends AutoCloseable {
            @Override
            void close();
        }
    }
}
