package org.sparkmoe.bench;

import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * This machine's memory bandwidth for the passes the step makes over expert state, STREAM-style
 * (McCalpin's triad {@code a = b + s c}) on float arrays far larger than the caches, with one thread
 * and with {@code threads} threads (each on its own slice), so the parameter-proportional phases of a
 * step (experts forward and backward read the weights, the backward writes gradients, Adam reads p, m,
 * v, g and writes p, m, v) can be given a floor in seconds (BENCHMARKS.md, "Session-7 engine work").
 *
 * <p>Bytes are counted as STREAM does: 4 per float read and 4 per float written; a store to a line
 * not in cache also reads it first (write-allocate), which STREAM does not count, so the "adam"
 * kernel (4 streams read, 3 written elsewhere) is reported beside the triad as the update's own rate.
 *
 * <pre>
 *   java -cp ... org.sparkmoe.bench.MemoryBandwidth mb=1024 threads=2 reps=5
 * </pre>
 */
public final class MemoryBandwidth {

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        long mb = a.integer("mb", 1024);
        int maxThreads = a.integer("threads", 2);
        int reps = a.integer("reps", 5);
        // seven arrays for the Adam kernel; "mb" is the size of the triad's three arrays together
        int n = (int) Math.min(Integer.MAX_VALUE - 16, mb * 1024 * 1024 / 4 / 3);
        float[] p = new float[n], g = new float[n], m = new float[n], v = new float[n];
        float[] p2 = new float[n], m2 = new float[n], v2 = new float[n];
        for (int i = 0; i < n; i++) {
            p[i] = 1f + (i & 7);
            g[i] = 0.5f;
            m[i] = 0.25f;
            v[i] = 1f;
        }
        System.out.printf(Locale.ROOT, "arrays of %,d floats (%.0f MB each); load average %s%n", n, n * 4.0 / 1e6,
                java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim());
        System.out.println("| kernel | threads | bytes counted per element | best GB/s | median GB/s |");
        System.out.println("|---|---:|---:|---:|---:|");
        for (int t = 1; t <= maxThreads; t++) {
            ExecutorService pool = Executors.newFixedThreadPool(t);
            try {
                report("triad a = b + s c", t, 12, n, reps, pool, (lo, hi) -> {
                    for (int i = lo; i < hi; i++) p2[i] = g[i] + 3f * m[i];
                });
                report("read (sum of one array)", t, 4, n, reps, pool, (lo, hi) -> {
                    // eight running sums: one would run at the float add's latency, not at memory's rate
                    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
                    int i = lo;
                    for (; i + 7 < hi; i += 8) {
                        s0 += v[i]; s1 += v[i + 1]; s2 += v[i + 2]; s3 += v[i + 3];
                        s4 += v[i + 4]; s5 += v[i + 5]; s6 += v[i + 6]; s7 += v[i + 7];
                    }
                    for (; i < hi; i++) s0 += v[i];
                    if (s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 == -1f) System.out.print("");
                });
                report("write (fill one array)", t, 4, n, reps, pool, (lo, hi) -> java.util.Arrays.fill(m2, lo, hi, 0f));
                report("adam (read p g m v, write p' m' v')", t, 28, n, reps, pool, (lo, hi) -> {
                    // Adam.stepInto's float32 form: three one-store loops per 1024-element chunk, which C2 vectorises
                    for (int at = lo; at < hi; at += 1024) {
                        int e = Math.min(hi, at + 1024);
                        for (int i = at; i < e; i++) m2[i] = 0.9f * m[i] + 0.1f * g[i];
                        for (int i = at; i < e; i++) v2[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
                        for (int i = at; i < e; i++) p2[i] = p[i] - 1e-3f * m2[i] / ((float) Math.sqrt(v2[i]) + 1e-8f);
                    }
                });
            } finally {
                pool.shutdown();
            }
        }
    }

    interface Kernel {
        void run(int lo, int hi);
    }

    private static void report(String name, int threads, int bytesPerElement, int n, int reps, ExecutorService pool,
                               Kernel k) throws Exception {
        double[] rates = new double[reps + 1];
        for (int r = 0; r <= reps; r++) { // the first pass warms up the JIT and is dropped
            long t0 = System.nanoTime();
            Future<?>[] f = new Future<?>[threads];
            for (int t = 0; t < threads; t++) {
                int lo = (int) ((long) n * t / threads), hi = (int) ((long) n * (t + 1) / threads);
                f[t] = pool.submit(() -> k.run(lo, hi));
            }
            for (Future<?> x : f) x.get();
            rates[r] = (double) n * bytesPerElement / (System.nanoTime() - t0);
        }
        double[] timed = java.util.Arrays.copyOfRange(rates, 1, rates.length);
        java.util.Arrays.sort(timed);
        System.out.printf(Locale.ROOT, "| %s | %d | %d | %.1f | %.1f |%n", name, threads, bytesPerElement,
                timed[timed.length - 1], timed[timed.length / 2]);
    }
}
