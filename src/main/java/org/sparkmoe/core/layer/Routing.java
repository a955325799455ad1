package org.sparkmoe.core.layer;

import java.util.Arrays;

import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Buffers;

/**
 * The dispatch plan of one block of rows: the (row, slot) entries of a {@link GatingState} grouped
 * by expert (a counting sort, rows ascending within an expert). Expert e's batch is entries
 * {@code [start(e), start(e) + count(e))}; only experts with a non-zero gate appear. Reused.
 */
public final class Routing implements java.io.Serializable {
    private final int numExperts;
    private final int[] count;
    private final int[] start;
    private int entries;
    private int[] row = new int[0];
    private int[] slot = new int[0];
    private double[] gate = new double[0];
    private int slotsPerRow;
    private int[] entryOf = new int[0];

    public Routing(int numExperts) {
        this.numExperts = numExperts;
        this.count = new int[numExperts];
        this.start = new int[numExperts + 1];
    }

    /** Builds the plan for {@code state}. */
    public void build(GatingState state) {
        int m = state.rows();
        int slots = state.slots();
        int[] expert = state.expert();
        double[] g = state.gate();
        Arrays.fill(count, 0);
        int total = 0;
        for (int q = 0; q < m * slots; q++) {
            if (expert[q] >= 0 && g[q] != 0) {
                count[expert[q]]++;
                total++;
            }
        }
        start[0] = 0;
        for (int e = 0; e < numExperts; e++) start[e + 1] = start[e] + count[e];
        entries = total;
        row = Buffers.ensure(row, total);
        slot = Buffers.ensure(slot, total);
        gate = Buffers.ensure(gate, total);
        slotsPerRow = slots;
        entryOf = Buffers.ensure(entryOf, m * slots);
        int[] fill = Arrays.copyOf(start, numExperts);
        for (int r = 0; r < m; r++) {
            for (int s = 0; s < slots; s++) {
                int q = r * slots + s;
                int e = expert[q];
                if (e < 0 || g[q] == 0) {
                    entryOf[q] = -1;
                    continue;
                }
                int at = fill[e]++;
                row[at] = r;
                slot[at] = s;
                gate[at] = g[q];
                entryOf[q] = at;
            }
        }
    }

    public int numExperts() {
        return numExperts;
    }

    /** Total (row, expert) entries: the rows all experts process together. */
    public int entries() {
        return entries;
    }

    /** Rows routed to expert e: its batch size. */
    public int count(int e) {
        return count[e];
    }

    /** First entry of expert e. */
    public int start(int e) {
        return start[e];
    }

    /** Row of each entry (shared array, valid up to {@link #entries()}). */
    public int[] rows() {
        return row;
    }

    /** Slot within the row of each entry. */
    public int[] slots() {
        return slot;
    }

    /**
     * The inverse of {@link #rows()} and {@link #slots()}: the entry of (row r, slot s) at
     * {@code r * slotsPerRow() + s}, -1 where that slot routes nowhere; so the combine can run row
     * by row ({@link org.sparkmoe.core.linalg.Matrix#sumRowsOf}).
     */
    public int[] entryOf() {
        return entryOf;
    }

    /** Slots per row of the last {@link #build} (the gating state's). */
    public int slotsPerRow() {
        return slotsPerRow;
    }

    /** Gate value of each entry. */
    public double[] gates() {
        return gate;
    }
}
