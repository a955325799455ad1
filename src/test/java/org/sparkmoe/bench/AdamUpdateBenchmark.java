package org.sparkmoe.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The sharded expert update without Spark: {@code threads} threads (the shards, updated at once as
 * in {@code local[2]}) each run Adam's fused float32 {@code stepInto} over {@code elements}
 * parameters, alternating {@code into} (reading p, g, m, v, writing p', m', v' into other buffers:
 * the update before session 10) and {@code inplace} (writing p, m, v over themselves). Prints per
 * round and mode the wall time and the threads' CPU time. Memory bound: the ratio is the evidence.
 *
 * <p>Arguments (key=value): elements=67108864 (a shard's parameters at the paper shape, n = 256, is
 * 134M), threads=2, rounds=5. Heap: 7 x 4 x elements x threads bytes, plus margin.
 */
public final class AdamUpdateBenchmark {
    private AdamUpdateBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        int elements = a.integer("elements", 1 << 26);
        int threads = a.integer("threads", 2);
        int rounds = a.integer("rounds", 5);
        Adam adam = new Adam();
        ParameterLayout layout = ParameterLayout.builder().add("w", elements, 1).build();
        Parameters[] p = new Parameters[threads], q = new Parameters[threads], g = new Parameters[threads];
        OptimiserState[] s = new OptimiserState[threads], s2 = new OptimiserState[threads];
        for (int t = 0; t < threads; t++) {
            p[t] = fill(Parameters.wrap(layout, new FloatMatrix(1, elements)), 2 * t);
            g[t] = fill(Parameters.wrap(layout, new FloatMatrix(1, elements)), 2 * t + 1);
            q[t] = Parameters.wrap(layout, new FloatMatrix(1, elements));
            s[t] = adam.newState(p[t]);
            s2[t] = adam.newState(p[t]);
        }
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        System.out.printf(Locale.ROOT, "Adam float32 stepInto, %d elements a thread, %d threads (load %s)%n", elements, threads,
                java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim());
        long step = 1;
        for (int r = 0; r < rounds + 1; r++) {
            for (String mode : List.of("into", "inplace")) {
                long w0 = System.nanoTime();
                final long st = step++;
                Future<?>[] f = new Future<?>[threads];
                long[] cpu = new long[threads];
                for (int t = 0; t < threads; t++) {
                    int i = t;
                    f[t] = pool.submit(() -> {
                        long c0 = mx.getCurrentThreadCpuTime();
                        if (mode.equals("into")) {
                            adam.stepInto(p[i], s[i], g[i], 0.5, q[i], s2[i], st, 1e-3);
                        } else {
                            adam.stepInto(p[i], s[i], g[i], 0.5, p[i], s[i], st, 1e-3);
                        }
                        cpu[i] = mx.getCurrentThreadCpuTime() - c0;
                    });
                }
                for (Future<?> x : f) x.get();
                long wall = System.nanoTime() - w0;
                long total = 0;
                for (long c : cpu) total += c;
                if (r > 0) {
                    System.out.printf(Locale.ROOT, "round %d %-7s wall %6.1f ms, CPU %6.1f ms a thread, %.2f ns an element%n", r, mode,
                            wall / 1e6, total / 1e6 / threads, (double) total / threads / elements);
                }
            }
        }
        pool.shutdown();
    }

    private static Parameters fill(Parameters x, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        var m = x.flat();
        for (int i = 0; i < m.size(); i++) m.setFlat(i, rnd.nextDouble() - 0.5);
        return x;
    }
}
