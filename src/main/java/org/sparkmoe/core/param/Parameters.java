package org.sparkmoe.core.param;

import java.util.function.DoubleSupplier;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Values for a {@link ParameterLayout}: one flat 1 x size vector with a {@link Matrix} view per
 * named tensor. Gradients use the same class and layout as the parameters they belong to.
 */
public final class Parameters {
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
}
