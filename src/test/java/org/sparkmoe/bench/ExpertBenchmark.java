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
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.expert.ExpertWorkspace;
import org.sparkmoe.core.linalg.GemmBackends;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.Parameters;

/**
 * One expert's forward and backward pass (with dL/dx) on a float32 batch, per GEMM back end:
 * {@code 12 * rows * d * h} flops (forward 2 GEMMs, backward 4, each {@code 2 * rows * d * h}).
 * {@link BenchMain} turns the time into GFLOP/s and sets it against {@link SgemmBenchmark}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class ExpertBenchmark {
    @Param({"ojalgo", "netlib-native", "netlib-java"})
    public String backend;

    @Param({"512", "4096"})
    public int rows;

    @Param({"256", "512"})
    public int d;

    @Param({"1024"})
    public int h;

    private Expert expert;
    private Parameters params;
    private Parameters grad;
    private ExpertWorkspace ws;
    private Matrix x;
    private Matrix out;
    private Matrix dOut;
    private Matrix dx;

    /** The flops one invocation performs. */
    public static double flops(int rows, int d, int h) {
        return 12.0 * rows * d * h;
    }

    @Setup(Level.Trial)
    public void setUp() {
        // Throws for a back end that does not load here: JMH reports that configuration as failed
        // and carries on with the others.
        GemmBackends.use(GemmBackends.byName(backend));
        SplittableRandom r = new SplittableRandom(42);
        expert = new Expert(d, h);
        params = expert.initialise(Precision.F32, r);
        grad = params.zerosLike();
        ws = new ExpertWorkspace(Precision.F32, h);
        x = random(rows, d, r);
        dOut = random(rows, d, r);
        out = Precision.F32.zeros(rows, d);
        dx = Precision.F32.zeros(rows, d);
    }

    private static Matrix random(int rows, int cols, SplittableRandom r) {
        Matrix m = Precision.F32.zeros(rows, cols);
        for (int i = 0, n = m.size(); i < n; i++) m.setFlat(i, r.nextDouble() * 2 - 1);
        return m;
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        expert.forward(params, x, ws, out);
        // grad accumulates across invocations (as across micro-batches); with |values| ~ 1 it stays far from overflow.
        expert.backward(params, x, ws, dOut, dx, grad);
        bh.consume(dx);
    }
}
