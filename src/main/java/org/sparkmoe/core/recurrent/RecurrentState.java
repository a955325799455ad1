package org.sparkmoe.core.recurrent;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * The LSTM state (h, c) of every recurrent layer for S sequences, carried from one window to the
 * next of the same document. Plain data the caller owns: a data partition keeps it between steps
 * and a checkpoint writes it ({@link #hidden}/{@link #cell} are {@code S x d} matrices), so a resumed
 * run continues every sequence where it stopped.
 */
public final class RecurrentState implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final Matrix[] hidden;
    private final Matrix[] cell;

    /** Zero state for {@code layers} LSTM layers of {@code units} each and S = {@code sequences}. */
    public RecurrentState(Precision precision, int layers, int sequences, int units) {
        hidden = new Matrix[layers];
        cell = new Matrix[layers];
        for (int l = 0; l < layers; l++) {
            hidden[l] = precision.zeros(sequences, units);
            cell[l] = precision.zeros(sequences, units);
        }
    }

    public int layers() {
        return hidden.length;
    }

    public int sequences() {
        return hidden[0].rows();
    }

    public Precision precision() {
        return hidden[0].precision();
    }

    /** h of LSTM layer {@code layer} (0 = the lower one), {@code S x d}, shared storage. */
    public Matrix hidden(int layer) {
        return hidden[layer];
    }

    /** c of LSTM layer {@code layer}, {@code S x d}, shared storage. */
    public Matrix cell(int layer) {
        return cell[layer];
    }

    /** Zeroes sequence s in every layer: it starts a new document. */
    public void reset(int s) {
        for (int l = 0; l < hidden.length; l++) {
            for (int j = 0, d = hidden[l].cols(); j < d; j++) {
                hidden[l].set(s, j, 0);
                cell[l].set(s, j, 0);
            }
        }
    }

    /** Sequences {@code [from, from + count)} as a state of their own (a copy). */
    public RecurrentState selectSequences(int from, int count) {
        int d = hidden[0].cols();
        RecurrentState r = new RecurrentState(precision(), layers(), count, d);
        for (int l = 0; l < hidden.length; l++) {
            r.hidden[l].copyFrom(hidden[l].slice(from * d, count, d));
            r.cell[l].copyFrom(cell[l].slice(from * d, count, d));
        }
        return r;
    }

    public RecurrentState copy() {
        RecurrentState r = new RecurrentState(precision(), layers(), sequences(), hidden[0].cols());
        r.copyFrom(this);
        return r;
    }

    /** Copies every tensor of {@code other} (same shape) into this. */
    public void copyFrom(RecurrentState other) {
        if (other.layers() != layers()) {
            throw new IllegalArgumentException("state of " + other.layers() + " layers into one of " + layers());
        }
        for (int l = 0; l < hidden.length; l++) {
            hidden[l].copyFrom(other.hidden[l]);
            cell[l].copyFrom(other.cell[l]);
        }
    }
}
