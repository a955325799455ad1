package org.sparkmoe.app;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.engine.StepReport;

/** The {@link TrainingLoop.Listener}s the faces share: console progress, divergence, the balance history. */
public final class RunListeners {
    private RunListeners() {
    }

    /** One console line every {@code every} steps and at the last: step/total, loss, tokens/s and ETA. */
    public static TrainingLoop.Listener progress(PrintStream out, int every) {
        return new TrainingLoop.Listener() {
            long first;
            long target;
            long t0;

            @Override
            public void started(long firstStep, long targetStep) {
                first = firstStep;
                target = targetStep;
                t0 = System.nanoTime();
                if (first > 0) out.println("resuming at step " + first + " of " + target);
            }

            @Override
            public void stepped(StepReport r) {
                if (r.step() % every != 0 && r.step() != target) return;
                double elapsed = (System.nanoTime() - t0) / 1e9;
                long done = r.step() - first;
                double eta = done > 0 ? elapsed / done * (target - r.step()) : 0;
                long s = Math.round(eta);
                out.printf(Locale.ROOT, "step %d/%d  loss %.4f  tokens/s %.0f  ETA %d:%02d:%02d%n", r.step(), target, r.taskLoss(),
                        r.examplesPerSecond(), s / 3600, (s / 60) % 60, s % 60);
            }
        };
    }

    /** Stops the run at a non-finite task loss, with {@code hint} on what to change. */
    public static TrainingLoop.Listener failOnDivergence(String hint) {
        return new TrainingLoop.Listener() {
            @Override
            public void stepped(StepReport r) {
                if (!Double.isFinite(r.taskLoss())) {
                    throw new IllegalStateException("training diverged: task loss " + r.taskLoss() + " at step " + r.step() + " (" + hint + ")");
                }
            }
        };
    }

    /**
     * The expert load over time: every step's rows per expert, appended as CSV lines
     * ({@code step,rows of expert 0,...}) to a file at each checkpoint and at the end, so a resumed
     * run's history continues the stopped one's.
     */
    public static final class BalanceHistory implements TrainingLoop.Listener {
        private final Path file;
        private final Configuration conf;
        private final StringBuilder pending = new StringBuilder();

        public BalanceHistory(Path file, Configuration conf) {
            this.file = file;
            this.conf = conf;
        }

        @Override
        public void stepped(StepReport r) {
            pending.append(r.step());
            for (int c : r.rowsPerExpert()) pending.append(',').append(c);
            pending.append('\n');
        }

        @Override
        public void checkpointed(long step) throws IOException {
            flush();
        }

        @Override
        public void finished(long step) throws IOException {
            flush();
        }

        private void flush() throws IOException {
            if (pending.length() == 0) return;
            String old = file.getFileSystem(conf).exists(file) ? Publish.readText(file, conf) : "";
            Publish.replaceFile(file, old + pending, conf);
            pending.setLength(0);
        }

        /** The stored history, one row per step ({@code step, rows per expert...}), the last line of a step winning. */
        public List<long[]> rows() throws IOException {
            if (!file.getFileSystem(conf).exists(file)) return new ArrayList<>();
            Map<Long, long[]> byStep = new TreeMap<>();
            for (String line : Publish.readText(file, conf).split("\n")) {
                if (line.isBlank()) continue;
                String[] f = line.split(",");
                long[] r = new long[f.length];
                for (int i = 0; i < f.length; i++) r[i] = Long.parseLong(f[i].trim());
                byStep.put(r[0], r);
            }
            return new ArrayList<>(byStep.values());
        }
    }
}
