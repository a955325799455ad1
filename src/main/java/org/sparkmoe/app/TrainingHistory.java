package org.sparkmoe.app;

import java.util.Arrays;

import org.sparkmoe.engine.StepReport;

/**
 * A {@link TrainingLoop.Listener} that keeps, for every step of a run, the objective's parts (task
 * loss, importance and load losses; paper section 4) and the balance columns of the paper's
 * appendix table (CV(Importance), CV(Load), max/mean load). The estimators' training summaries are
 * built from it; the job can add it to its run the same way.
 */
public final class TrainingHistory implements TrainingLoop.Listener, java.io.Serializable {
    private static final long serialVersionUID = 1L;

    /** Per step: step number, task loss, importance loss, load loss, CV(Importance), CV(Load), max/mean load. */
    private static final int COLUMNS = 7;

    private double[] rows = new double[16 * COLUMNS];
    private int steps;
    private long firstStep;
    private long targetStep;

    @Override
    public void started(long first, long target) {
        firstStep = first;
        targetStep = target;
    }

    @Override
    public void stepped(StepReport r) {
        if ((steps + 1) * COLUMNS > rows.length) rows = Arrays.copyOf(rows, rows.length * 2);
        int o = steps * COLUMNS;
        rows[o] = r.step();
        rows[o + 1] = r.taskLoss();
        // a model without an MoE (the recurrent LSTM-LSTM baseline) has no balance: no balancing losses, no CVs
        boolean moe = r.balance() != null;
        rows[o + 2] = moe ? r.balance().importanceLoss() : 0;
        rows[o + 3] = moe ? r.balance().loadLoss() : 0;
        rows[o + 4] = moe ? r.balance().cvImportance() : Double.NaN;
        rows[o + 5] = moe ? r.balance().cvLoad() : Double.NaN;
        rows[o + 6] = moe ? r.balance().maxOverMeanLoad() : Double.NaN;
        steps++;
    }

    /** Steps trained in this run (a resumed run counts only its own). */
    public int steps() {
        return steps;
    }

    /** The step the run started at: 0, or a resumed checkpoint's or warm start's step. */
    public long firstStep() {
        return firstStep;
    }

    /** The step count the run trained to. */
    public long targetStep() {
        return targetStep;
    }

    private double[] column(int c) {
        double[] out = new double[steps];
        for (int s = 0; s < steps; s++) out[s] = rows[s * COLUMNS + c];
        return out;
    }

    public long[] stepNumbers() {
        return Arrays.stream(column(0)).mapToLong(v -> (long) v).toArray();
    }

    public double[] taskLoss() {
        return column(1);
    }

    public double[] importanceLoss() {
        return column(2);
    }

    public double[] loadLoss() {
        return column(3);
    }

    public double[] cvImportance() {
        return column(4);
    }

    public double[] cvLoad() {
        return column(5);
    }

    public double[] maxOverMeanLoad() {
        return column(6);
    }

    /** The objective each step minimised: task loss + importance loss + load loss (the balancing losses of paper eq. 7 and 11 added to the task loss). */
    public double[] objective() {
        double[] out = new double[steps];
        for (int s = 0; s < steps; s++) out[s] = rows[s * COLUMNS + 1] + rows[s * COLUMNS + 2] + rows[s * COLUMNS + 3];
        return out;
    }
}
