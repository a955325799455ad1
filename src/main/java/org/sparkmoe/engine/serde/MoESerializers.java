package org.sparkmoe.engine.serde;

import java.util.Objects;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;

/**
 * Kryo 4 serializers for the core types that cross the wire. Each writes a leading format-version
 * byte ({@link Wire#FORMAT_VERSION}) and rejects other versions with a clear message; values are
 * written as bulk primitive blocks (no per-element objects, no Java serialization).
 * Registered by {@link MoEKryoRegistrator}.
 */
public final class MoESerializers {
    private MoESerializers() {
    }

    /**
     * Only the elements of {@code m} (a view's own, no shape, no copy of the array behind it), for
     * serializers that write several views as one run of rows; read back with {@code Input.readFloats}
     * or {@code readDoubles}.
     */
    public static void writeElements(Output out, org.sparkmoe.core.linalg.Matrix m) {
        if (m instanceof FloatMatrix f) {
            Wire.writeFloats(out, f.data(), f.offset(), f.size());
        } else {
            DoubleMatrix d = (DoubleMatrix) m;
            Wire.writeDoubles(out, d.data(), d.offset(), d.size());
        }
    }

    /** rows, cols and only the view's own elements; reads back a fresh compact matrix. */
    public static final class FloatMatrixSerializer extends Serializer<FloatMatrix> {
        @Override
        public void write(Kryo kryo, Output out, FloatMatrix m) {
            Wire.writeVersion(out);
            Wire.writeMatrixBody(out, m);
        }

        @Override
        public FloatMatrix read(Kryo kryo, Input in, Class<FloatMatrix> type) {
            Wire.readVersion(in, FloatMatrix.class);
            return (FloatMatrix) Wire.readMatrixBody(in, Precision.F32);
        }
    }

    /** rows, cols and only the view's own elements; reads back a fresh compact matrix. */
    public static final class DoubleMatrixSerializer extends Serializer<DoubleMatrix> {
        @Override
        public void write(Kryo kryo, Output out, DoubleMatrix m) {
            Wire.writeVersion(out);
            Wire.writeMatrixBody(out, m);
        }

        @Override
        public DoubleMatrix read(Kryo kryo, Input in, Class<DoubleMatrix> type) {
            Wire.readVersion(in, DoubleMatrix.class);
            return (DoubleMatrix) Wire.readMatrixBody(in, Precision.F64);
        }
    }

    /** The entries (name, rows, cols) in order. */
    public static final class ParameterLayoutSerializer extends Serializer<ParameterLayout> {
        public ParameterLayoutSerializer() {
            super(false, true); // immutable: Kryo.copy may return the same instance
        }

        @Override
        public void write(Kryo kryo, Output out, ParameterLayout layout) {
            Wire.writeVersion(out);
            Wire.writeLayoutBody(out, layout);
        }

        @Override
        public ParameterLayout read(Kryo kryo, Input in, Class<ParameterLayout> type) {
            Wire.readVersion(in, ParameterLayout.class);
            return Wire.readLayoutBody(in);
        }
    }

    /** Layout, precision and the flat vector. */
    public static final class ParametersSerializer extends Serializer<Parameters> {
        @Override
        public void write(Kryo kryo, Output out, Parameters p) {
            Wire.writeVersion(out);
            Wire.writeParametersBody(out, p, null);
        }

        @Override
        public Parameters read(Kryo kryo, Input in, Class<Parameters> type) {
            Wire.readVersion(in, Parameters.class);
            return Wire.readParametersBody(in, null);
        }
    }

    /** Layout once, then each slot's name, precision and flat vector. */
    public static final class OptimiserStateSerializer extends Serializer<OptimiserState> {
        @Override
        public void write(Kryo kryo, Output out, OptimiserState s) {
            Wire.writeVersion(out);
            Wire.writeOptimiserBody(out, s, null);
        }

        @Override
        public OptimiserState read(Kryo kryo, Input in, Class<OptimiserState> type) {
            Wire.readVersion(in, OptimiserState.class);
            return Wire.readOptimiserBody(in, null);
        }
    }

    /** Shared group, then the experts; an expert layout equal to the previous one is not repeated. */
    public static final class ModelParametersSerializer extends Serializer<ModelParameters> {
        @Override
        public void write(Kryo kryo, Output out, ModelParameters m) {
            Wire.writeVersion(out);
            writeBody(out, m);
        }

        @Override
        public ModelParameters read(Kryo kryo, Input in, Class<ModelParameters> type) {
            Wire.readVersion(in, ModelParameters.class);
            return readBody(in);
        }

        static void writeBody(Output out, ModelParameters m) {
            Wire.writeParametersBody(out, Objects.requireNonNull(m.shared(), "ModelParameters.shared"), null);
            Parameters[] experts = Objects.requireNonNull(m.experts(), "ModelParameters.experts");
            out.writeVarInt(experts.length, true);
            ParameterLayout prev = null;
            for (Parameters e : experts) {
                Wire.writeParametersBody(out, e, prev);
                prev = e.layout();
            }
        }

        static ModelParameters readBody(Input in) {
            Parameters shared = Wire.readParametersBody(in, null);
            Parameters[] experts = new Parameters[in.readVarInt(true)];
            ParameterLayout prev = null;
            for (int i = 0; i < experts.length; i++) {
                experts[i] = Wire.readParametersBody(in, prev);
                prev = experts[i].layout();
            }
            return new ModelParameters(shared, experts);
        }
    }

    /** Model parameters, shared and per-expert optimiser states, and the step count. */
    public static final class TrainingStateSerializer extends Serializer<TrainingState> {
        @Override
        public void write(Kryo kryo, Output out, TrainingState s) {
            Wire.writeVersion(out);
            ModelParametersSerializer.writeBody(out, Objects.requireNonNull(s.params(), "TrainingState.params"));
            Wire.writeOptimiserBody(out, Objects.requireNonNull(s.sharedOptimiser(), "TrainingState.sharedOptimiser"), null);
            OptimiserState[] experts = Objects.requireNonNull(s.expertOptimisers(), "TrainingState.expertOptimisers");
            out.writeVarInt(experts.length, true);
            ParameterLayout prev = null;
            for (OptimiserState e : experts) {
                Wire.writeOptimiserBody(out, e, prev);
                prev = e.layout();
            }
            out.writeVarLong(s.step(), true);
        }

        @Override
        public TrainingState read(Kryo kryo, Input in, Class<TrainingState> type) {
            Wire.readVersion(in, TrainingState.class);
            ModelParameters params = ModelParametersSerializer.readBody(in);
            OptimiserState shared = Wire.readOptimiserBody(in, null);
            OptimiserState[] experts = new OptimiserState[in.readVarInt(true)];
            ParameterLayout prev = null;
            for (int i = 0; i < experts.length; i++) {
                experts[i] = Wire.readOptimiserBody(in, prev);
                prev = experts[i].layout();
            }
            return new TrainingState(params, shared, experts, in.readVarLong(true));
        }
    }

    /** The two weights as doubles. */
    public static final class BalanceWeightsSerializer extends Serializer<BalanceWeights> {
        public BalanceWeightsSerializer() {
            super(false, true);
        }

        @Override
        public void write(Kryo kryo, Output out, BalanceWeights w) {
            Wire.writeVersion(out);
            out.writeDouble(w.importance());
            out.writeDouble(w.load());
        }

        @Override
        public BalanceWeights read(Kryo kryo, Input in, Class<BalanceWeights> type) {
            Wire.readVersion(in, BalanceWeights.class);
            double importance = in.readDouble();
            double load = in.readDouble();
            return new BalanceWeights(importance, load);
        }
    }

    /** The two losses and the three per-expert vectors (each may be null). */
    public static final class BalanceResultSerializer extends Serializer<BalanceResult> {
        @Override
        public void write(Kryo kryo, Output out, BalanceResult r) {
            Wire.writeVersion(out);
            out.writeDouble(r.importanceLoss());
            out.writeDouble(r.loadLoss());
            writeNullable(out, r.importance());
            writeNullable(out, r.load());
            writeNullable(out, r.statsGradient());
        }

        @Override
        public BalanceResult read(Kryo kryo, Input in, Class<BalanceResult> type) {
            Wire.readVersion(in, BalanceResult.class);
            double importanceLoss = in.readDouble();
            double loadLoss = in.readDouble();
            double[] importance = readNullable(in);
            double[] load = readNullable(in);
            double[] statsGradient = readNullable(in);
            return new BalanceResult(importanceLoss, loadLoss, importance, load, statsGradient);
        }

        // length + 1, so that 0 means null
        private static void writeNullable(Output out, double[] a) {
            out.writeVarInt(a == null ? 0 : a.length + 1, true);
            if (a != null) out.writeDoubles(a);
        }

        private static double[] readNullable(Input in) {
            int n = in.readVarInt(true);
            return n == 0 ? null : in.readDoubles(n - 1);
        }
    }
}
