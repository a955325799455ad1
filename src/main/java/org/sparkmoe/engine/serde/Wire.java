package org.sparkmoe.engine.serde;

import java.util.ArrayList;
import java.util.List;

import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.io.UnsafeOutput;
import com.esotericsoftware.kryo.util.UnsafeUtil;

import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The building blocks of the wire format, shared by the serializers. Nested values (a layout
 * inside parameters, parameters inside a model) are written through these helpers rather than
 * {@code kryo.writeObject}, so the leading version byte of the outermost serializer covers the
 * whole nested encoding and no class ids are repeated inside one object.
 */
final class Wire {
    /** The only format version this build writes and reads. */
    static final int FORMAT_VERSION = 1;

    /**
     * Elements copied per bulk write when a matrix is a view into a larger array: Kryo 4's
     * {@code Output.writeFloats} has no (offset, count) overload, and copying a whole large view at
     * once would double its memory.
     */
    private static final int CHUNK = 1 << 14;
    private static final ThreadLocal<float[]> FLOAT_CHUNK = ThreadLocal.withInitial(() -> new float[CHUNK]);
    private static final ThreadLocal<double[]> DOUBLE_CHUNK = ThreadLocal.withInitial(() -> new double[CHUNK]);

    private static final int PRECISION_F32 = 0;
    private static final int PRECISION_F64 = 1;

    private Wire() {
    }

    static void writeVersion(Output out) {
        out.writeByte(FORMAT_VERSION);
    }

    static void readVersion(Input in, Class<?> type) {
        int v = in.readByte() & 0xff;
        if (v != FORMAT_VERSION) {
            throw new KryoException("cannot read " + type.getSimpleName() + ": serialization format version " + v
                    + " is unknown; this build of spark-moe reads version " + FORMAT_VERSION
                    + " (were driver and executors built from different versions?)");
        }
    }

    static void writePrecision(Output out, Precision p) {
        out.writeByte(p == Precision.F32 ? PRECISION_F32 : PRECISION_F64);
    }

    static Precision readPrecision(Input in) {
        int b = in.readByte() & 0xff;
        return switch (b) {
            case PRECISION_F32 -> Precision.F32;
            case PRECISION_F64 -> Precision.F64;
            default -> throw new KryoException("corrupt stream: unknown precision code " + b);
        };
    }

    /** Shape, then only the view's own rows*cols elements (never the rest of the backing array). */
    static void writeMatrixBody(Output out, Matrix m) {
        out.writeVarInt(m.rows(), true);
        out.writeVarInt(m.cols(), true);
        if (m instanceof FloatMatrix f) {
            writeFloats(out, f.data(), f.offset(), f.size());
        } else {
            DoubleMatrix d = (DoubleMatrix) m;
            writeDoubles(out, d.data(), d.offset(), d.size());
        }
    }

    /** A fresh compact matrix (offset 0, backing array of exactly rows*cols). */
    static Matrix readMatrixBody(Input in, Precision p) {
        int rows = in.readVarInt(true);
        int cols = in.readVarInt(true);
        if (rows < 0 || cols < 0) {
            throw new KryoException("corrupt stream: matrix shape " + rows + "x" + cols);
        }
        int n;
        try {
            n = Math.multiplyExact(rows, cols);
        } catch (ArithmeticException e) {
            throw new KryoException("corrupt stream: matrix shape " + rows + "x" + cols + " overflows");
        }
        return p == Precision.F32
                ? new FloatMatrix(in.readFloats(n), 0, rows, cols)
                : new DoubleMatrix(in.readDoubles(n), 0, rows, cols);
    }

    /**
     * A view's elements without copying them: straight from the array into Kryo's buffer when the
     * output is Spark's unsafe Kryo output (native byte order, as {@code UnsafeInput.readFloats}
     * reads it), else through a per-thread chunk. A fresh chunk per call was the shuffle's largest
     * allocation with many experts (one per block of an expert shard's arena views).
     */
    static void writeFloats(Output out, float[] a, int off, int n) {
        if (off == 0 && n == a.length) {
            out.writeFloats(a);
            return;
        }
        if (out instanceof UnsafeOutput u) {
            u.writeBytes(a, UnsafeUtil.floatArrayBaseOffset + 4L * off, 4L * n);
            return;
        }
        float[] buf = FLOAT_CHUNK.get();
        for (int i = 0; i < n; i += CHUNK) {
            int m = Math.min(CHUNK, n - i);
            if (m != CHUNK) {
                for (int j = 0; j < m; j++) out.writeFloat(a[off + i + j]);
            } else {
                System.arraycopy(a, off + i, buf, 0, m);
                out.writeFloats(buf);
            }
        }
    }

    static void writeDoubles(Output out, double[] a, int off, int n) {
        if (off == 0 && n == a.length) {
            out.writeDoubles(a);
            return;
        }
        if (out instanceof UnsafeOutput u) {
            u.writeBytes(a, UnsafeUtil.doubleArrayBaseOffset + 8L * off, 8L * n);
            return;
        }
        double[] buf = DOUBLE_CHUNK.get();
        for (int i = 0; i < n; i += CHUNK) {
            int m = Math.min(CHUNK, n - i);
            if (m != CHUNK) {
                for (int j = 0; j < m; j++) out.writeDouble(a[off + i + j]);
            } else {
                System.arraycopy(a, off + i, buf, 0, m);
                out.writeDoubles(buf);
            }
        }
    }

    /** Entries as (name, rows, cols); offsets are implied by the order, as the builder assigns them. */
    static void writeLayoutBody(Output out, ParameterLayout layout) {
        List<ParameterLayout.Entry> entries = layout.entries();
        out.writeVarInt(entries.size(), true);
        for (ParameterLayout.Entry e : entries) {
            out.writeString(e.name());
            out.writeVarInt(e.rows(), true);
            out.writeVarInt(e.cols(), true);
        }
    }

    static ParameterLayout readLayoutBody(Input in) {
        int n = in.readVarInt(true);
        ParameterLayout.Builder b = ParameterLayout.builder();
        try {
            for (int i = 0; i < n; i++) {
                b.add(in.readString(), in.readVarInt(true), in.readVarInt(true));
            }
        } catch (IllegalArgumentException e) {
            throw new KryoException("corrupt stream: invalid parameter layout: " + e.getMessage(), e);
        }
        return b.build();
    }

    /**
     * Writes a layout unless it equals {@code previous}: the experts of one model (and their
     * optimiser states) nearly always share a layout, so it travels once.
     */
    static void writeLayoutRef(Output out, ParameterLayout layout, ParameterLayout previous) {
        boolean same = previous != null && (previous == layout || previous.equals(layout));
        out.writeBoolean(same);
        if (!same) writeLayoutBody(out, layout);
    }

    static ParameterLayout readLayoutRef(Input in, ParameterLayout previous) {
        if (in.readBoolean()) {
            if (previous == null) {
                throw new KryoException("corrupt stream: layout refers to a previous layout but there is none");
            }
            return previous;
        }
        return readLayoutBody(in);
    }

    static void writeParametersBody(Output out, Parameters p, ParameterLayout previous) {
        writeLayoutRef(out, p.layout(), previous);
        writePrecision(out, p.precision());
        writeMatrixBody(out, p.flat());
    }

    static Parameters readParametersBody(Input in, ParameterLayout previous) {
        ParameterLayout layout = readLayoutRef(in, previous);
        return wrap(layout, readMatrixBody(in, readPrecision(in)));
    }

    static void writeOptimiserBody(Output out, OptimiserState s, ParameterLayout previous) {
        writeLayoutRef(out, s.layout(), previous);
        out.writeVarInt(s.slots().size(), true);
        for (OptimiserState.Slot slot : s.slots()) {
            // Slots share the state's layout (the constructor checks it), so only values travel.
            out.writeString(slot.name());
            writePrecision(out, slot.values().precision());
            writeMatrixBody(out, slot.values().flat());
        }
    }

    static OptimiserState readOptimiserBody(Input in, ParameterLayout previous) {
        ParameterLayout layout = readLayoutRef(in, previous);
        int n = in.readVarInt(true);
        List<OptimiserState.Slot> slots = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String name = in.readString();
            slots.add(new OptimiserState.Slot(name, wrap(layout, readMatrixBody(in, readPrecision(in)))));
        }
        return new OptimiserState(layout, slots);
    }

    private static Parameters wrap(ParameterLayout layout, Matrix flat) {
        try {
            return Parameters.wrap(layout, flat);
        } catch (IllegalArgumentException e) {
            throw new KryoException("corrupt stream: " + e.getMessage(), e);
        }
    }
}
