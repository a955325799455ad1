package org.sparkmoe.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.sparkmoe.core.linalg.GemmBackend;
import org.sparkmoe.core.linalg.GemmBackends;

/**
 * The two weight-gradient GEMMs of an expert shard's backward pass (dW1 = x^T dh, dW2 = h^T dy, beta 0, as
 * {@code Expert.backward} overwrites them) and the gradient's sum of squares ({@code FloatMatrix.sumOfSquares}'
 * lanes), in other call shapes, to see what n = 256's 537 MB of gradients a shard cost beyond the FLOPs.
 * {@code threads} threads at once (the shards of {@code local[2]}), each {@code experts} experts of
 * {@code rows / experts} rows (configuration 1 at n = 256: experts=128, m = 256). Thread CPU a thread per mode:
 * <ul>
 *   <li>{@code one}: as the engine does: both GEMMs, then the expert's whole vector summed;</li>
 *   <li>{@code split}: dW1, its squares, dW2, its squares (each block summed while it is the freshest);</li>
 *   <li>{@code r<N>} / {@code c<N>}: each gradient in blocks of N rows (squares summed after each block) or
 *       N columns (no sums), so that a block stays in L2 between OpenBLAS's clearing and its kernel;</li>
 *   <li>{@code t<R>x<C>}: tiles small enough for OpenBLAS's small-matrix kernels (no clearing pass);</li>
 *   <li>{@code scratch} / {@code scratch2}: each GEMM into one reused 2 MB buffer, then copied into the gradient
 *       with its squares summed in one loop, or summed there and copied by {@code System.arraycopy};</li>
 *   <li>{@code nosum}: the GEMMs alone; {@code beta1}: the GEMMs onto the old gradient (beta 1, wrong values):
 *       the kernels without OpenBLAS's clearing of C (its {@code memset}) — the bound for any cut of that pass.</li>
 * </ul>
 * <pre>
 *   java -Xmx8g -XX:G1HeapRegionSize=32m -cp ... org.sparkmoe.bench.ExpertBackwardShapesBenchmark \
 *       modes=one,split,nosum,beta1,scratch2,r128,c256,t128x64 rounds=3
 * </pre>
 */
public final class ExpertBackwardShapesBenchmark {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        int d = a.integer("d", 512), hid = a.integer("h", 1024), rows = a.integer("rows", 32768);
        int experts = a.integer("experts", 128), threads = a.integer("threads", 2), rounds = a.integer("rounds", 4);
        String[] modes = a.string("modes", "one,beta1").split(",");
        int m = rows / experts;
        for (String mode : modes) {
            String md = mode.trim();
            if (!md.matches("one|split|nosum|beta1|scratch2?|[rc]\\d+|t\\d+x\\d+")) throw new IllegalArgumentException("unknown mode " + md);
            for (String num : md.replaceAll("[^0-9]+", " ").trim().split(" ")) {
                if (!num.isEmpty() && (d % Integer.parseInt(num) != 0 || hid % Integer.parseInt(num) != 0)) {
                    throw new IllegalArgumentException(md + ": blocks must divide d and h");
                }
            }
        }
        GemmBackend g = GemmBackends.current();
        System.out.printf(Locale.ROOT, "%s d=%d h=%d m=%d experts=%d threads=%d load %s%n", g, d, hid, m, experts, threads, EngineBenchmark.loadAverage());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true); // an error in main ends the JVM
            return t;
        });
        float[][][] grads = new float[threads][experts][];
        float[][] xs = new float[threads][], hs = new float[threads][], dys = new float[threads][], dhs = new float[threads][];
        for (int t = 0; t < threads; t++) {
            for (int e = 0; e < experts; e++) grads[t][e] = new float[2 * d * hid + hid + d];
            xs[t] = rnd(rows * d, t); dys[t] = rnd(rows * d, t + 9); hs[t] = rnd(rows * hid, t + 17); dhs[t] = rnd(rows * hid, t + 23);
        }
        for (int r = 0; r < rounds; r++) {
            for (String ms : modes) {
                String block = ms.trim();
                @SuppressWarnings("unchecked")
                Future<double[]>[] f = new Future[threads];
                for (int t = 0; t < threads; t++) {
                    final int tt = t;
                    f[t] = pool.submit(() -> run(g, grads[tt], xs[tt], hs[tt], dys[tt], dhs[tt], d, hid, m, block));
                }
                double[] s = new double[3];
                double chk = 0;
                for (Future<double[]> x : f) { double[] v = x.get(); s[0] += v[0] / threads; s[1] += v[1] / threads; chk += v[2]; }
                System.out.printf(Locale.ROOT, "round %d mode %s: dW GEMMs %.1f ms a thread, sums %.1f, both %.1f (sum %.6e) load %s%n",
                        r, block, s[0], s[1], s[0] + s[1], chk, EngineBenchmark.loadAverage());
            }
        }
        pool.shutdown();
    }

    static double[] run(GemmBackend g, float[][] grads, float[] x, float[] h, float[] dy, float[] dh, int d, int hid, int m, String mode) {
        long gemm = 0, sums = 0;
        double total = 0;
        int w2 = d * hid + hid;
        for (int e = 0; e < grads.length; e++) {
            float[] gr = grads[e];
            int xo = e * m * d, ho = e * m * hid;
            long t0 = MX.getCurrentThreadCpuTime();
            if (mode.equals("one")) {
                g.sgemm(true, false, hid, d, m, 1f, h, ho, hid, dy, xo, d, 0f, gr, w2, d);
                g.sgemm(true, false, d, hid, m, 1f, x, xo, d, dh, ho, hid, 0f, gr, 0, hid);
                long t1 = MX.getCurrentThreadCpuTime();
                total += squares(gr, 0, gr.length);
                long t2 = MX.getCurrentThreadCpuTime();
                gemm += t1 - t0; sums += t2 - t1;
            } else if (mode.equals("split")) {
                g.sgemm(true, false, d, hid, m, 1f, x, xo, d, dh, ho, hid, 0f, gr, 0, hid);
                long t1 = MX.getCurrentThreadCpuTime();
                total += squares(gr, 0, w2);
                long t2 = MX.getCurrentThreadCpuTime();
                g.sgemm(true, false, hid, d, m, 1f, h, ho, hid, dy, xo, d, 0f, gr, w2, d);
                long t3 = MX.getCurrentThreadCpuTime();
                total += squares(gr, w2, gr.length - w2);
                long t4 = MX.getCurrentThreadCpuTime();
                gemm += (t1 - t0) + (t3 - t2); sums += (t2 - t1) + (t4 - t3);
            } else if (mode.equals("nosum")) {
                g.sgemm(true, false, hid, d, m, 1f, h, ho, hid, dy, xo, d, 0f, gr, w2, d);
                g.sgemm(true, false, d, hid, m, 1f, x, xo, d, dh, ho, hid, 0f, gr, 0, hid);
                gemm += MX.getCurrentThreadCpuTime() - t0;
            } else if (mode.equals("beta1")) { // C not cleared: the kernel alone (wrong values, timing only)
                g.sgemm(true, false, hid, d, m, 1f, h, ho, hid, dy, xo, d, 1f, gr, w2, d);
                g.sgemm(true, false, d, hid, m, 1f, x, xo, d, dh, ho, hid, 1f, gr, 0, hid);
                gemm += MX.getCurrentThreadCpuTime() - t0;
            } else if (mode.equals("scratch")) { // each weight gradient into a reused scratch, then copied with its squares summed
                float[] sc = SC.get();
                g.sgemm(true, false, d, hid, m, 1f, x, xo, d, dh, ho, hid, 0f, sc, 0, hid);
                long t1 = MX.getCurrentThreadCpuTime();
                total += copySquares(sc, gr, 0, d * hid);
                long t2 = MX.getCurrentThreadCpuTime();
                g.sgemm(true, false, hid, d, m, 1f, h, ho, hid, dy, xo, d, 0f, sc, 0, d);
                long t3 = MX.getCurrentThreadCpuTime();
                total += copySquares(sc, gr, w2, d * hid);
                long t4 = MX.getCurrentThreadCpuTime();
                gemm += (t1 - t0) + (t3 - t2); sums += (t2 - t1) + (t4 - t3);
            } else if (mode.equals("scratch2")) { // into a scratch, squares summed there, then System.arraycopy
                float[] sc = SC.get();
                g.sgemm(true, false, d, hid, m, 1f, x, xo, d, dh, ho, hid, 0f, sc, 0, hid);
                long t1 = MX.getCurrentThreadCpuTime();
                total += squares(sc, 0, d * hid);
                System.arraycopy(sc, 0, gr, 0, d * hid);
                long t2 = MX.getCurrentThreadCpuTime();
                g.sgemm(true, false, hid, d, m, 1f, h, ho, hid, dy, xo, d, 0f, sc, 0, d);
                long t3 = MX.getCurrentThreadCpuTime();
                total += squares(sc, 0, d * hid);
                System.arraycopy(sc, 0, gr, w2, d * hid);
                long t4 = MX.getCurrentThreadCpuTime();
                gemm += (t1 - t0) + (t3 - t2); sums += (t2 - t1) + (t4 - t3);
            } else if (mode.startsWith("t")) { // tiles of R x C of each weight gradient (OpenBLAS's small-matrix kernels, beta 0 without a memset, below 100^3)
                String[] rc = mode.substring(1).split("x");
                int tr = Integer.parseInt(rc[0]), tc = Integer.parseInt(rc[1]);
                for (int i = 0; i < hid; i += tr) for (int j = 0; j < d; j += tc)
                    g.sgemm(true, false, tr, tc, m, 1f, h, ho + i, hid, dy, xo + j, d, 0f, gr, w2 + i * d + j, d);
                for (int i = 0; i < d; i += tr) for (int j = 0; j < hid; j += tc)
                    g.sgemm(true, false, tr, tc, m, 1f, x, xo + i, d, dh, ho + j, hid, 0f, gr, i * hid + j, hid);
                gemm += MX.getCurrentThreadCpuTime() - t0;
            } else if (mode.startsWith("r")) { // row blocks of each weight gradient, each block's squares summed right after it
                int block = Integer.parseInt(mode.substring(1));
                for (int i = 0; i < d; i += block) {
                    long a0 = MX.getCurrentThreadCpuTime();
                    g.sgemm(true, false, block, hid, m, 1f, x, xo + i, d, dh, ho, hid, 0f, gr, i * hid, hid);
                    long a1 = MX.getCurrentThreadCpuTime();
                    total += squares(gr, i * hid, block * hid);
                    sums += MX.getCurrentThreadCpuTime() - a1; gemm += a1 - a0;
                }
                total += squares(gr, d * hid, hid);
                for (int i = 0; i < hid; i += block) {
                    long a0 = MX.getCurrentThreadCpuTime();
                    g.sgemm(true, false, block, d, m, 1f, h, ho + i, hid, dy, xo, d, 0f, gr, w2 + i * d, d);
                    long a1 = MX.getCurrentThreadCpuTime();
                    total += squares(gr, w2 + i * d, block * d);
                    sums += MX.getCurrentThreadCpuTime() - a1; gemm += a1 - a0;
                }
            } else if (mode.startsWith("c")) {
                int block = Integer.parseInt(mode.substring(1));
                for (int j = 0; j < d; j += block) g.sgemm(true, false, hid, block, m, 1f, h, ho, hid, dy, xo + j, d, 0f, gr, w2 + j, d);
                for (int j = 0; j < hid; j += block) g.sgemm(true, false, d, block, m, 1f, x, xo, d, dh, ho + j, hid, 0f, gr, j, hid);
                gemm += MX.getCurrentThreadCpuTime() - t0;
            }
        }
        return new double[]{gemm / 1e6, sums / 1e6, total};
    }

    private static final ThreadLocal<double[]> SCRATCH = ThreadLocal.withInitial(() -> new double[512]);

    private static final ThreadLocal<float[]> SC = ThreadLocal.withInitial(() -> new float[512 * 1024]);

    private static double copySquares(float[] src, float[] dst, int at, int len) {
        double[] sc = SCRATCH.get();
        java.util.Arrays.fill(sc, 0, 256, 0d);
        int i = 0;
        for (; i + 256 <= len; i += 256) {
            for (int c = 0; c < 256; c++) { float v = src[i + c]; dst[at + i + c] = v; sc[256 + c] = v; }
            for (int c = 0; c < 256; c++) sc[c] += sc[256 + c] * sc[256 + c];
        }
        double s = 0;
        for (int c = 0; c < 256; c++) s += sc[c];
        for (; i < len; i++) { dst[at + i] = src[i]; s += (double) src[i] * src[i]; }
        return s;
    }

    private static double squares(float[] a, int from, int len) {
        double[] sc = SCRATCH.get();
        java.util.Arrays.fill(sc, 0, 256, 0d);
        int i = from, e = from + len;
        for (; i + 256 <= e; i += 256) {
            for (int c = 0; c < 256; c++) sc[256 + c] = a[i + c];
            for (int c = 0; c < 256; c++) sc[c] += sc[256 + c] * sc[256 + c];
        }
        double s = 0;
        for (int c = 0; c < 256; c++) s += sc[c];
        for (; i < e; i++) s += (double) a[i] * a[i];
        return s;
    }

    private static float[] rnd(int n, int seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() - 0.5);
        return a;
    }
}
