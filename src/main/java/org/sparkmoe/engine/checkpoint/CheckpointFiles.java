package org.sparkmoe.engine.checkpoint;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The binary encoding of checkpoint files ({@code shared.bin}, {@code experts-NNNNN.bin}): plain
 * big-endian {@link DataOutputStream} data, independent of Kryo and of Java serialization, so a
 * checkpoint outlives changes to the wire format and can be read without Spark.
 *
 * <pre>
 * file       := MAGIC:int FORMAT_VERSION:int kind:byte step:long body END:int
 * shared     := parameters optimiser
 * experts    := shard:int count:int { expertId:int parameters optimiser }*count
 * parameters := entries:int { name:UTF rows:int cols:int }*entries precision:byte n:int value*n
 *               (value = float for F32, double for F64; n = layout size)
 * optimiser  := slots:int { name:UTF parameters }*slots
 * </pre>
 *
 * The trailing END marker makes a file cut exactly between two records still read as truncated.
 */
final class CheckpointFiles {
    /** "MoEC". */
    static final int MAGIC = 0x4D6F4543;
    /** "END!". */
    static final int END = 0x454E4421;
    static final int FORMAT_VERSION = 1;
    static final byte KIND_SHARED = 1;
    static final byte KIND_EXPERTS = 2;

    private static final byte PRECISION_F32 = 0;
    private static final byte PRECISION_F64 = 1;
    /** Bytes converted per bulk write/read: avoids one stream call per scalar without a full copy. */
    private static final int CHUNK_BYTES = 1 << 16;
    /** Sanity bounds so a corrupt count fails with a message instead of an OutOfMemoryError. */
    private static final int MAX_ENTRIES = 1 << 20;
    private static final int MAX_SLOTS = 1 << 10;

    private CheckpointFiles() {
    }

    // ---------------------------------------------------------------- writing

    static void writeHeader(DataOutputStream out, byte kind, long step) throws IOException {
        out.writeInt(MAGIC);
        out.writeInt(FORMAT_VERSION);
        out.writeByte(kind);
        out.writeLong(step);
    }

    static void writeEnd(DataOutputStream out) throws IOException {
        out.writeInt(END);
    }

    static void writeParameters(DataOutputStream out, Parameters p) throws IOException {
        List<ParameterLayout.Entry> entries = p.layout().entries();
        out.writeInt(entries.size());
        for (ParameterLayout.Entry e : entries) {
            out.writeUTF(e.name());
            out.writeInt(e.rows());
            out.writeInt(e.cols());
        }
        Matrix flat = p.flat();
        out.writeByte(flat.precision() == Precision.F32 ? PRECISION_F32 : PRECISION_F64);
        out.writeInt(flat.size());
        byte[] buf = new byte[CHUNK_BYTES];
        ByteBuffer bb = ByteBuffer.wrap(buf);
        if (flat instanceof FloatMatrix f) {
            float[] a = f.data();
            for (int i = 0, n = f.size(); i < n; ) {
                int m = Math.min(n - i, CHUNK_BYTES / Float.BYTES);
                bb.clear();
                bb.asFloatBuffer().put(a, f.offset() + i, m);
                out.write(buf, 0, m * Float.BYTES);
                i += m;
            }
        } else {
            DoubleMatrix d = (DoubleMatrix) flat;
            double[] a = d.data();
            for (int i = 0, n = d.size(); i < n; ) {
                int m = Math.min(n - i, CHUNK_BYTES / Double.BYTES);
                bb.clear();
                bb.asDoubleBuffer().put(a, d.offset() + i, m);
                out.write(buf, 0, m * Double.BYTES);
                i += m;
            }
        }
    }

    static void writeOptimiser(DataOutputStream out, OptimiserState s) throws IOException {
        out.writeInt(s.slots().size());
        for (OptimiserState.Slot slot : s.slots()) {
            out.writeUTF(slot.name());
            writeParameters(out, slot.values());
        }
    }

    // ---------------------------------------------------------------- reading

    /**
     * Reads one checkpoint file, turning every failure into an IOException that names the file and
     * what was being read, so an operator can tell a truncated upload from a version skew.
     */
    static final class Reader implements AutoCloseable {
        private final DataInputStream in;
        private final String file;
        /** What is being read, for error messages. */
        private String context = "header";

        Reader(DataInputStream in, String file) {
            this.in = in;
            this.file = file;
        }

        String file() {
            return file;
        }

        void context(String what) {
            context = what;
        }

        CorruptCheckpointException corrupt(String what) {
            return new CorruptCheckpointException(file, "checkpoint file " + file + " is corrupt: " + what + " (while reading "
                    + context + ")", null);
        }

        CorruptCheckpointException truncated(EOFException e) {
            return new CorruptCheckpointException(file, "checkpoint file " + file + " is truncated: unexpected end of file while reading "
                    + context, e);
        }

        /** Checks magic, version and kind; returns the step recorded in the file. */
        long readHeader(byte expectedKind) throws IOException {
            context = "header";
            int magic = in.readInt();
            if (magic != MAGIC) {
                throw new CorruptCheckpointException(file, "checkpoint file " + file + " is not a spark-moe checkpoint file (magic 0x"
                        + Integer.toHexString(magic) + ", expected 0x" + Integer.toHexString(MAGIC) + ")", null);
            }
            int version = in.readInt();
            if (version != FORMAT_VERSION) {
                throw new IOException("checkpoint file " + file + " has format version " + version
                        + ", which this build cannot read (it reads version " + FORMAT_VERSION + ")");
            }
            byte kind = in.readByte();
            if (kind != expectedKind) {
                throw corrupt("file kind " + kind + ", expected " + expectedKind);
            }
            return in.readLong();
        }

        void readEnd() throws IOException {
            context = "end marker";
            int end = in.readInt();
            if (end != END) {
                throw corrupt("bad end marker 0x" + Integer.toHexString(end));
            }
            if (in.read() != -1) {
                throw corrupt("trailing bytes after the end marker");
            }
        }

        int readInt() throws IOException {
            return in.readInt();
        }

        /** Parameters with the layout recorded in the file; compared with expectations by the caller. */
        Parameters readParameters() throws IOException {
            int n = in.readInt();
            if (n <= 0 || n > MAX_ENTRIES) {
                throw corrupt("layout entry count " + n);
            }
            ParameterLayout.Builder b = ParameterLayout.builder();
            for (int i = 0; i < n; i++) {
                String name = in.readUTF();
                int rows = in.readInt();
                int cols = in.readInt();
                try {
                    b.add(name, rows, cols);
                } catch (IllegalArgumentException | ArithmeticException e) {
                    throw corrupt("invalid layout entry: " + e.getMessage());
                }
            }
            ParameterLayout layout;
            try {
                layout = b.build();
            } catch (ArithmeticException e) {
                throw corrupt("layout size overflows");
            }
            byte code = in.readByte();
            Precision p = switch (code) {
                case PRECISION_F32 -> Precision.F32;
                case PRECISION_F64 -> Precision.F64;
                default -> throw corrupt("unknown precision code " + code);
            };
            int size = in.readInt();
            if (size != layout.size()) {
                throw corrupt(size + " values for a layout of size " + layout.size());
            }
            byte[] buf = new byte[CHUNK_BYTES];
            ByteBuffer bb = ByteBuffer.wrap(buf);
            Matrix flat;
            if (p == Precision.F32) {
                float[] a = new float[size];
                for (int i = 0; i < size; ) {
                    int m = Math.min(size - i, CHUNK_BYTES / Float.BYTES);
                    in.readFully(buf, 0, m * Float.BYTES);
                    bb.clear();
                    bb.asFloatBuffer().get(a, i, m);
                    i += m;
                }
                for (int i = 0; i < size; i++) {
                    if (!Float.isFinite(a[i])) throw corrupt(nonFinite(layout, i, a[i]));
                }
                flat = new FloatMatrix(a, 0, 1, size);
            } else {
                double[] a = new double[size];
                for (int i = 0; i < size; ) {
                    int m = Math.min(size - i, CHUNK_BYTES / Double.BYTES);
                    in.readFully(buf, 0, m * Double.BYTES);
                    bb.clear();
                    bb.asDoubleBuffer().get(a, i, m);
                    i += m;
                }
                for (int i = 0; i < size; i++) {
                    if (!Double.isFinite(a[i])) throw corrupt(nonFinite(layout, i, a[i]));
                }
                flat = new DoubleMatrix(a, 0, 1, size);
            }
            return Parameters.wrap(layout, flat);
        }

        /** An optimiser state whose slots must all have {@code layout} (that of the parameters it belongs to). */
        OptimiserState readOptimiser(ParameterLayout layout) throws IOException {
            int n = in.readInt();
            if (n < 0 || n > MAX_SLOTS) {
                throw corrupt("optimiser slot count " + n);
            }
            List<OptimiserState.Slot> slots = new ArrayList<>(n);
            String outer = context;
            for (int i = 0; i < n; i++) {
                String name = in.readUTF();
                context = outer + ", optimiser slot '" + name + "'";
                Parameters v = readParameters();
                if (!v.layout().equals(layout)) {
                    throw new IOException("checkpoint file " + file + ": layout mismatch in " + context + ": "
                            + layoutDifference(layout, v.layout()));
                }
                try {
                    slots.add(new OptimiserState.Slot(name, v));
                } catch (IllegalArgumentException e) {
                    throw corrupt(e.getMessage());
                }
            }
            context = outer;
            try {
                return new OptimiserState(layout, slots);
            } catch (IllegalArgumentException e) {
                throw corrupt(e.getMessage());
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }

    /**
     * Where flat index {@code i} of {@code layout} lies, for a non-finite value found there. Training
     * never checkpoints one (a non-finite loss stops it first), so it means overwritten bytes, e.g.
     * 0xFF on an object store without checksums.
     */
    static String nonFinite(ParameterLayout layout, int i, double value) {
        for (ParameterLayout.Entry e : layout.entries()) {
            if (i >= e.offset() && i < e.offset() + e.size()) {
                int k = i - e.offset();
                return "non-finite value " + value + " in tensor '" + e.name() + "' at row " + k / e.cols() + ", column "
                        + k % e.cols();
            }
        }
        return "non-finite value " + value + " at flat index " + i;
    }

    /** A short description of how {@code actual} differs from {@code expected}, naming the first differing tensor. */
    static String layoutDifference(ParameterLayout expected, ParameterLayout actual) {
        List<ParameterLayout.Entry> e = expected.entries();
        List<ParameterLayout.Entry> a = actual.entries();
        for (int i = 0; i < Math.min(e.size(), a.size()); i++) {
            ParameterLayout.Entry x = e.get(i);
            ParameterLayout.Entry y = a.get(i);
            if (!x.name().equals(y.name()) || x.rows() != y.rows() || x.cols() != y.cols()) {
                return "tensor #" + i + " is '" + y.name() + "' " + y.rows() + "x" + y.cols() + " in the checkpoint but '"
                        + x.name() + "' " + x.rows() + "x" + x.cols() + " is expected (checkpoint " + actual + ", expected "
                        + expected + ")";
            }
        }
        return "the checkpoint has " + a.size() + " tensors where " + e.size() + " are expected (checkpoint " + actual
                + ", expected " + expected + ")";
    }
}
