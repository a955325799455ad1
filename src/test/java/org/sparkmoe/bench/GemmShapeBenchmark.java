package org.sparkmoe.bench;

import java.util.Arrays;
import java.util.Locale;

import org.sparkmoe.core.linalg.GemmBackend;
import org.sparkmoe.core.linalg.GemmBackends;

/**
 * sgemm at the small shapes of configuration 4's step (issue 9: the classifier d = 64, n = 16, k = 2,
 * h = 64, B = 16384 on 4 partitions, so 4096 rows per partition and about k B / (n P) = 512 rows
 * per expert), on every back end that loads in this JVM, one thread: which back end is fastest at
 * which shape, and how far these shapes are from the square-probe rate that
 * {@link GemmBackends}' {@code auto} selection measures. Each shape is timed for about
 * {@code millis} ms per back end, back ends interleaved round by round so that a change in the
 * machine's load hits them alike; prints the median and the best GFLOP/s.
 *
 * <p>Arguments (key=value, optional): millis=300, rounds=5.
 */
public final class GemmShapeBenchmark {

    /** A row-major product C(m x n) = op(A) op(B), op(A) m x k, op(B) k x n; what it is in the step. */
    record Shape(String what, boolean transA, boolean transB, int m, int n, int k) {
    }

    static final Shape[] SHAPES = {
            new Shape("input layer / head forward, 4096 x 64 . 64 x 64", false, false, 4096, 64, 64),
            new Shape("gate logits and noise, 4096 x 64 . 64 x 16", false, false, 4096, 16, 64),
            new Shape("weight gradient over a partition, 64 x 4096 . 4096 x 64", true, false, 64, 64, 4096),
            new Shape("expert forward, 512 x 64 . 64 x 64", false, false, 512, 64, 64),
            new Shape("expert weight gradient, 64 x 512 . 512 x 64", true, false, 64, 64, 512),
            new Shape("expert input gradient, 512 x 64 . (64 x 64)^T", false, true, 512, 64, 64),
            new Shape("probe of GemmBackends auto, 256^3", false, false, 256, 256, 256),
    };

    public static void main(String[] args) {
        BenchArgs a = new BenchArgs(args);
        long budget = a.integer("millis", 300) * 1_000_000L;
        int rounds = a.integer("rounds", 5);
        GemmBackend[] backends = GemmBackends.available().toArray(new GemmBackend[0]);
        System.out.printf(Locale.ROOT, "OPENBLAS_NUM_THREADS=%s; load average %s; GFLOP/s median (best) of %d rounds of ~%d ms each%n%n",
                System.getenv().getOrDefault("OPENBLAS_NUM_THREADS", "(unset)"), EngineBenchmark.loadAverage(), rounds, budget / 1_000_000 / rounds);
        StringBuilder head = new StringBuilder("| shape | transA | transB |");
        StringBuilder rule = new StringBuilder("|---|---|---|");
        for (GemmBackend b : backends) {
            head.append(' ').append(b.name()).append(" |");
            rule.append("---:|");
        }
        System.out.println(head);
        System.out.println(rule);
        for (Shape s : SHAPES) {
            float[] x = fill(s.m * s.k, 31), y = fill(s.k * s.n, 17), c = new float[s.m * s.n];
            double[][] rates = new double[backends.length][rounds];
            for (GemmBackend b : backends) call(b, s, x, y, c); // first calls (class loading, thread pools) untimed
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < backends.length; i++) rates[i][r] = time(backends[i], s, x, y, c, budget / rounds);
            }
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s | %s |", s.what, s.transA, s.transB));
            for (double[] r : rates) {
                Arrays.sort(r);
                row.append(String.format(Locale.ROOT, " %.1f (%.1f) |", r[r.length / 2], r[r.length - 1]));
            }
            System.out.println(row);
        }
    }

    private static float[] fill(int n, int mul) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = ((i * mul + 7) % 97) / 97f - 0.5f;
        return v;
    }

    private static void call(GemmBackend b, Shape s, float[] x, float[] y, float[] c) {
        int lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n;
        b.sgemm(s.transA, s.transB, s.m, s.n, s.k, 1f, x, 0, lda, y, 0, ldb, 0f, c, 0, s.n);
    }

    /** GFLOP/s over as many calls as fit in {@code nanos}. */
    private static double time(GemmBackend b, Shape s, float[] x, float[] y, float[] c, long nanos) {
        long t0 = System.nanoTime(), t;
        int calls = 0;
        do {
            call(b, s, x, y, c);
            calls++;
            t = System.nanoTime();
        } while (t - t0 < nanos);
        return 2.0 * s.m * s.n * s.k * calls / (t - t0);
    }
}
