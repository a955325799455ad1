package org.sparkmoe.core.gating;

import java.util.Arrays;

import org.sparkmoe.core.linalg.Buffers;

/**
 * The sparse gate G(x) of a block of rows, plus what its gating network keeps for the backward
 * pass. Each row has a fixed number of slots; slot s of row r routes the row to expert
 * {@code expert(r, s)} with weight {@code gate(r, s)} ({@code expert == -1}: unused slot). The MoE
 * layer writes dL/dG(x) per slot into {@link #gateGradient()} before the gating backward pass.
 * Reused across steps.
 */
public class GatingState implements java.io.Serializable {
    private final int slots;
    private int rows;
    private int[] expert = new int[0];
    private double[] gate = new double[0];
    private double[] gateGradient = new double[0];

    public GatingState(int slots) {
        this.slots = slots;
    }

    /** Prepares for {@code rows} rows: all slots unused, gradients zero. */
    public void reset(int rows) {
        this.rows = rows;
        int n = rows * slots;
        expert = Buffers.ensure(expert, n);
        gate = Buffers.ensure(gate, n);
        gateGradient = Buffers.ensure(gateGradient, n);
        Arrays.fill(expert, 0, n, -1);
        Arrays.fill(gate, 0, n, 0.0);
        Arrays.fill(gateGradient, 0, n, 0.0);
    }

    public final int rows() {
        return rows;
    }

    public final int slots() {
        return slots;
    }

    /** Expert ids, row-major rows x slots; -1 for an unused slot. */
    public final int[] expert() {
        return expert;
    }

    /** Gate values, row-major rows x slots. */
    public final double[] gate() {
        return gate;
    }

    /** dL/dG(x) per slot, row-major rows x slots, written by the layer above. */
    public final double[] gateGradient() {
        return gateGradient;
    }
}
