package org.sparkmoe.core.param;

import java.util.function.DoubleSupplier;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Values for a {@link ParameterLayout}: one flat 1 x size vector with a {@link Matrix} view per
 * named tensor. Gradients use the same class and layout as the parameters they belong to.
 * Java-serializable (layout, precision and values), so objects that hold parameters survive
 * Java serialization; Spark moves them with the project's Kryo serializers.
 */
public final class Parameters implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final ParameterLayout layout;
    private final Matrix flat;
    private final Matrix[] views;

    Parameters(ParameterLayout layout, Matrix flat) {
        if (flat.rows() != 1 || flat.cols() != layout.size()) {
            throw new IllegalArgumentException("flat vector " + flat + " does not fit layout of size " + layout.size());
        }
        this.layout = layout;
        this.flat = flat;
        this.views = new Matrix[layout.entries().size()];
        for (int i = 0; i < views.length; i++) {
            ParameterLayout.Entry e = layout.entries().get(i);
            views[i] = flat.slice(e.offset(), e.rows(), e.cols());
        }
    }

    /** Wraps an existing flat vector (shared, not copied). */
    public static Parameters wrap(ParameterLayout layout, Matrix flat) {
        return new Parameters(layout, flat);
    }

    public ParameterLayout layout() {
        return layout;
    }

    public Precision precision() {
        return flat.precision();
    }

    /** All values as one 1 x size row (shared storage). */
    public Matrix flat() {
        return flat;
    }

    /** The view of one named tensor (shared storage). */
    public Matrix get(String name) {
        return views[layout.indexOf(name)];
    }

    /** The view of the i-th tensor of the layout. */
    public Matrix get(int i) {
        return views[i];
    }

    public Parameters zerosLike() {
        return layout.allocate(precision());
    }

    public Parameters copy() {
        return new Parameters(layout, flat.copy());
    }

    /** Same values in another precision. */
    public Parameters to(Precision p) {
        Parameters out = layout.allocate(p);
        out.flat.copyFrom(flat);
        return out;
    }

    public void fill(DoubleSupplier values) {
        for (int i = 0, n = flat.size(); i < n; i++) flat.setFlat(i, values.getAsDouble());
    }

    @Override
    public String toString() {
        return "Parameters" + layout + "@" + precision();
    }

    private Object writeReplace() {
        return new Serial(this);
    }

    private void readObject(java.io.ObjectInputStream in) throws java.io.InvalidObjectException {
        throw new java.io.InvalidObjectException("Parameters are read through their serial form");
    }

    /** The serial form: the layout and the values in their precision (float32 stays 4 bytes a value). */
    private static final class Serial implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        private final ParameterLayout layout;
        private final float[] f32;
        private final double[] f64;

        Serial(Parameters p) {
            layout = p.layout;
            int n = p.flat.size();
            if (p.precision() == Precision.F32) {
                f32 = new float[n];
                f64 = null;
                for (int i = 0; i < n; i++) f32[i] = (float) p.flat.getFlat(i);
            } else {
                f32 = null;
                f64 = new double[n];
                for (int i = 0; i < n; i++) f64[i] = p.flat.getFlat(i);
            }
        }

        private Object readResolve() {
            Parameters p = layout.allocate(f32 != null ? Precision.F32 : Precision.F64);
            for (int i = 0, n = layout.size(); i < n; i++) p.flat.setFlat(i, f32 != null ? f32[i] : f64[i]);
            return p;
        }
    }
}
