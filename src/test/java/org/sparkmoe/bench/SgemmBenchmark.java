package org.sparkmoe.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.Blackhole;
import org.sparkmoe.core.linalg.GemmBackend;
import org.sparkmoe.core.linalg.GemmBackends;

/**
 * Raw sgemm on dense arrays at the expert's shapes, the ceiling {@link ExpertBenchmark} is measured
 * against. {@code six}: exactly the six GEMMs of one expert forward+backward with the same
 * transposes and sizes ({@code 12 * rows * d * h} flops), with nothing else in between.
 * {@code nn}: the single untransposed {@code rows x d * d x h} product ({@code 2 * rows * d * h}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class SgemmBenchmark {
    @Param({"ojalgo", "netlib-native", "netlib-java"})
    public String backend;

    @Param({"512", "4096"})
    public int rows;

    @Param({"256", "512"})
    public int d;

    @Param({"1024"})
    public int h;

    @Param({"six", "nn"})
    public String op;

    private GemmBackend gemm;
    private float[] x, w1, w2, hid, out, dOut, dh, gW1, gW2, dx;

    /** The flops one invocation of {@code op} performs. */
    public static double flops(String op, int rows, int d, int h) {
        return ("six".equals(op) ? 12.0 : 2.0) * rows * d * h;
    }

    @Setup(Level.Trial)
    public void setUp() {
        gemm = GemmBackends.byName(backend);
        SplittableRandom r = new SplittableRandom(7);
        x = random(rows * d, r);
        w1 = random(d * h, r);
        w2 = random(h * d, r);
        hid = random(rows * h, r);
        out = new float[rows * d];
        dOut = random(rows * d, r);
        dh = new float[rows * h];
        gW1 = new float[d * h];
        gW2 = new float[h * d];
        dx = new float[rows * d];
    }

    private static float[] random(int n, SplittableRandom r) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    @Benchmark
    public void sgemm(Blackhole bh) {
        int m = rows;
        // hidden = x W1
        gemm.sgemm(false, false, m, h, d, 1f, x, 0, d, w1, 0, h, 0f, hid, 0, h);
        if ("six".equals(op)) {
            // out = hidden W2
            gemm.sgemm(false, false, m, d, h, 1f, hid, 0, h, w2, 0, d, 0f, out, 0, d);
            // dh = dOut W2^T
            gemm.sgemm(false, true, m, h, d, 1f, dOut, 0, d, w2, 0, d, 0f, dh, 0, h);
            // gW2 += hidden^T dOut
            gemm.sgemm(true, false, h, d, m, 1f, hid, 0, h, dOut, 0, d, 1f, gW2, 0, d);
            // gW1 += x^T dh
            gemm.sgemm(true, false, d, h, m, 1f, x, 0, d, dh, 0, h, 1f, gW1, 0, h);
            // dx = dh W1^T
            gemm.sgemm(false, true, m, d, h, 1f, dh, 0, h, w1, 0, h, 0f, dx, 0, d);
        }
        bh.consume(hid);
        bh.consume(dx);
    }
}
