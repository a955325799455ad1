package org.sparkmoe.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.expert.ExpertWorkspace;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;

/**
 * An expert shard's compute without Spark, as {@code ShardStep} and {@code ExpertShard.update} run it:
 * {@code threads} threads (the shards of {@code local[2]}, at once), each with {@code experts} experts
 * of d x h over one activation arena of {@code rows} rows ({@code rows / experts} an expert), run every
 * expert forward, then every expert backward (weight gradients overwritten, the gradient's sum of squares
 * after each expert's backward, as {@code ShardStep} does), then Adam in place over all of the thread's
 * experts, then a STREAM triad over the same arrays (g = p + s m: 12 bytes an element) as the machine's
 * floor for the update's 28.
 *
 * <p>Per round it prints each phase's thread CPU a thread, and from a second, instrumented pass of the
 * same calls the six GEMMs' rate (GFLOP/s, thread CPU per call summed) and the element-wise passes
 * around them. The configuration-1 shard at n = 8 is {@code experts=4}, at n = 256 {@code experts=128}
 * (32,768 rows a shard: B = 16384, k = 4, 2 shards).
 *
 * <pre>
 *   java -Xmx8g -XX:G1HeapRegionSize=32m -cp ... org.sparkmoe.bench.ShardExpertsBenchmark experts=4,128 threads=2 rounds=3
 * </pre>
 * {@code sameWeights=true}: every expert of a shard on one set of weights, which then stay in cache: the
 * GEMMs' cost at m rows apart from reading the weights from memory. Heap: about 16 x 2 d h x experts
 * (parameters, gradients, moments) + 8 x rows x (2 d + h) (the arena) bytes a thread; with G1's default
 * regions at -Xmx8g (4 MB) each 4.2 MB expert vector is a humongous object in two regions, hence the flag.
 */
public final class ShardExpertsBenchmark {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    private static final String[] OPS = {"fwd h = x W1", "fwd y = h W2", "bwd dh = dy W2^T", "bwd dW2 = h^T dy",
            "bwd dW1 = x^T dh", "bwd dx = dh W1^T", "bias/relu fwd", "relu mask + sums bwd", "grad sum of squares"};

    private ShardExpertsBenchmark() {
    }

    /** One thread's shard. */
    private static final class Shard {
        final Expert expert;
        final Parameters[] p, g;
        final OptimiserState[] s;
        final Matrix x, y, dy, dx, h, dh;
        final int m;
        final long[] opNanos = new long[OPS.length];

        Shard(Expert expert, Adam adam, int experts, int rows, int seed, boolean sameWeights) {
            this.expert = expert;
            this.m = rows / experts;
            p = new Parameters[experts];
            g = new Parameters[experts];
            s = new OptimiserState[experts];
            for (int e = 0; e < experts; e++) {
                p[e] = sameWeights && e > 0 ? p[0] : expert.initialise(Precision.F32, new SplittableRandom(seed * 1000L + e));
                g[e] = p[e].zerosLike();
                s[e] = adam.newState(p[e]);
            }
            int d = expert.dim(), hid = expert.hidden(), r = m * experts;
            x = random(r, d, seed);
            dy = random(r, d, seed + 7);
            y = new FloatMatrix(r, d);
            dx = new FloatMatrix(r, d);
            h = new FloatMatrix(r, hid);
            dh = new FloatMatrix(r, hid);
        }

        Matrix rows(Matrix a, int e) {
            return a.slice(e * m * a.cols(), m, a.cols());
        }

        long forward() {
            long c0 = MX.getCurrentThreadCpuTime();
            for (int e = 0; e < p.length; e++) {
                expert.forward(p[e], rows(x, e), ExpertWorkspace.over(rows(h, e), rows(dh, e)), rows(y, e));
            }
            return MX.getCurrentThreadCpuTime() - c0;
        }

        long backward() {
            long c0 = MX.getCurrentThreadCpuTime();
            double sum = 0;
            for (int e = 0; e < p.length; e++) {
                expert.backward(p[e], rows(x, e), ExpertWorkspace.over(rows(h, e), rows(dh, e)), rows(dy, e), rows(dx, e), g[e], false);
                sum += g[e].flat().sumOfSquares();
            }
            if (Double.isNaN(sum)) throw new IllegalStateException();
            return MX.getCurrentThreadCpuTime() - c0;
        }

        long update(Adam adam, long step) {
            long c0 = MX.getCurrentThreadCpuTime();
            for (int e = 0; e < p.length; e++) adam.stepInto(p[e], s[e], g[e], 0.5, p[e], s[e], step, 1e-4);
            return MX.getCurrentThreadCpuTime() - c0;
        }

        long triad() {
            long c0 = MX.getCurrentThreadCpuTime();
            for (int e = 0; e < p.length; e++) {
                float[] a = ((FloatMatrix) g[e].flat()).data(), b = ((FloatMatrix) p[e].flat()).data();
                float[] c = ((FloatMatrix) s[e].slot(Adam.FIRST_MOMENT).flat()).data();
                for (int i = 0; i < a.length; i++) a[i] = b[i] + 0.5f * c[i];
            }
            return MX.getCurrentThreadCpuTime() - c0;
        }

        /** Expert.forward's and backward's calls one by one, each timed (thread CPU), for the split. */
        void instrumented() {
            java.util.Arrays.fill(opNanos, 0);
            for (int e = 0; e < p.length; e++) {
                Matrix xe = rows(x, e), he = rows(h, e), ye = rows(y, e);
                long t = MX.getCurrentThreadCpuTime();
                he.setRowsTo(p[e].get(Expert.B1));
                t = lap(6, t);
                he.gemm(1, xe, false, p[e].get(Expert.W1), false, 1);
                t = lap(0, t);
                he.reluInPlace();
                ye.setRowsTo(p[e].get(Expert.B2));
                t = lap(6, t);
                ye.gemm(1, he, false, p[e].get(Expert.W2), false, 1);
                lap(1, t);
            }
            for (int e = 0; e < p.length; e++) {
                Matrix xe = rows(x, e), he = rows(h, e), dye = rows(dy, e), dhe = rows(dh, e), dxe = rows(dx, e);
                Parameters ge = g[e];
                long t = MX.getCurrentThreadCpuTime();
                ge.get(Expert.B1).fill(0);
                ge.get(Expert.B2).fill(0);
                dhe.gemm(1, dye, false, p[e].get(Expert.W2), true, 0);
                t = lap(2, t);
                dhe.reluMaskAddColumnSums(he, ge.get(Expert.B1));
                t = lap(7, t);
                ge.get(Expert.W2).gemm(1, he, true, dye, false, 0);
                t = lap(3, t);
                dye.addColumnSumsTo(ge.get(Expert.B2));
                t = lap(7, t);
                ge.get(Expert.W1).gemm(1, xe, true, dhe, false, 0);
                t = lap(4, t);
                dxe.gemm(1, dhe, false, p[e].get(Expert.W1), true, 0);
                t = lap(5, t);
                if (Double.isNaN(ge.flat().sumOfSquares())) throw new IllegalStateException();
                lap(8, t);
            }
        }

        private long lap(int op, long since) {
            long now = MX.getCurrentThreadCpuTime();
            opNanos[op] += now - since;
            return now;
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        int d = a.integer("d", 512), hid = a.integer("h", 1024), rows = a.integer("rows", 32768);
        int threads = a.integer("threads", 2), rounds = a.integer("rounds", 3);
        String[] counts = a.string("experts", "4,128").split(",");
        // every expert of a shard on the first one's weights (still cache-resident at m = 256): the weights' reads
        // from memory, apart from the GEMMs' shape (the update and triad then touch the first expert's parameters 128 times)
        boolean sameWeights = Boolean.parseBoolean(a.string("sameWeights", "false"));
        Expert expert = new Expert(d, hid);
        Adam adam = new Adam();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true); // an error in main ends the JVM
            return t;
        });
        System.out.printf(Locale.ROOT, "GEMM %s; d=%d h=%d, %d rows a shard, %d threads at once, OPENBLAS_NUM_THREADS=%s, load %s%n", org.sparkmoe.core.linalg.GemmBackends.current(), d, hid, rows,
                threads, System.getenv().getOrDefault("OPENBLAS_NUM_THREADS", "(unset)"), EngineBenchmark.loadAverage());
        Shard[] shards = new Shard[threads];
        for (String c : counts) {
            int experts = Integer.parseInt(c.trim());
            java.util.Arrays.fill(shards, null); // the last count's shards are garbage before these are built
            for (int t = 0; t < threads; t++) shards[t] = new Shard(expert, adam, experts, rows, t + 1, sameWeights);
            int m = rows / experts;
            long params = (long) experts * expert.layout().size();
            double gemmFlop = 2.0 * m * d * hid * experts; // one of the six GEMMs over the shard
            System.out.printf(Locale.ROOT, "%nexperts=%d a shard, m=%d rows an expert, %,d parameters a shard (%.0f MB)%n", experts, m,
                    params, params * 4 / 1e6);
            for (int r = 0; r <= rounds; r++) {
                long step = r + 1;
                long[][] cpu = run(pool, shards, sh -> new long[]{sh.forward(), sh.backward(), sh.update(adam, step), sh.triad()});
                if (r == 0) continue; // warm-up
                double f = mean(cpu, 0), b = mean(cpu, 1), u = mean(cpu, 2), tr = mean(cpu, 3);
                System.out.printf(Locale.ROOT,
                        "round %d (load %s): CPU ms a thread: forward %.1f (%.1f GFLOP/s), backward %.1f (%.1f GFLOP/s), "
                                + "update %.1f (%.2f GB/s at 28 B), triad %.1f (%.2f GB/s at 12 B); update / triad time per element %.2f%n",
                        r, EngineBenchmark.loadAverage(), f / 1e6, 2 * gemmFlop / f, b / 1e6, 4 * gemmFlop / b, u / 1e6, 28.0 * params / u,
                        tr / 1e6, 12.0 * params / tr, u / tr);
            }
            run(pool, shards, sh -> {
                sh.instrumented();
                return new long[0];
            });
            StringBuilder line = new StringBuilder("split (instrumented pass, ms a thread, GFLOP/s):");
            double all = 0;
            for (int op = 0; op < OPS.length; op++) {
                double ms = 0;
                for (Shard sh : shards) ms += sh.opNanos[op] / 1e6 / threads;
                all += ms;
                line.append(String.format(Locale.ROOT, " %s %.1f", OPS[op], ms));
                if (op < 6) line.append(String.format(Locale.ROOT, " (%.0f)", gemmFlop / ms / 1e6));
                line.append(';');
            }
            System.out.println(line.append(String.format(Locale.ROOT, " all %.1f", all)));
        }
        pool.shutdown();
    }

    private interface Phase {
        long[] run(Shard s) throws Exception;
    }

    private static long[][] run(ExecutorService pool, Shard[] shards, Phase phase) throws Exception {
        @SuppressWarnings("unchecked")
        Future<long[]>[] f = new Future[shards.length];
        for (int t = 0; t < shards.length; t++) {
            Shard s = shards[t];
            f[t] = pool.submit(() -> phase.run(s));
        }
        long[][] r = new long[shards.length][];
        for (int t = 0; t < shards.length; t++) r[t] = f[t].get();
        return r;
    }

    private static double mean(long[][] cpu, int i) {
        double s = 0;
        for (long[] c : cpu) s += c[i];
        return s / cpu.length;
    }

    private static Matrix random(int rows, int cols, int seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        FloatMatrix m = new FloatMatrix(rows, cols);
        for (int i = 0; i < m.size(); i++) m.setFlat(i, rnd.nextDouble() - 0.5);
        return m;
    }
}
