package org.sparkmoe.bench;

import java.util.Locale;
import java.util.SplittableRandom;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.GemmBackends;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SoftmaxCrossEntropyHead;
import org.sparkmoe.core.network.TokenContextEmbedding;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.recurrent.SequenceBatch;

/**
 * Single-JVM forward+backward throughput (tokens/s, float32) of the recurrent language models
 * (LSTM - MoE - LSTM, LSTM - LSTM, MoE-1-Wide) next to the fixed-window model (c previous tokens,
 * {@link TokenContextEmbedding} -> MoE -> softmax) at the same V, d, n, k, h, in one process, one
 * thread. Each step is S*T tokens (the window model gets S*T examples). Prints a Markdown table and
 * the load average before and after.
 *
 * <p>Arguments (key=value, all optional): V=1000, d=128, experts=16, k=2, h=256, S=32, T=20, c=3,
 * steps=20, warmup=5.
 */
public final class RecurrentBenchmark {

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        int v = a.integer("V", 1000), d = a.integer("d", 128), n = a.integer("experts", 16), k = a.integer("k", 2);
        int h = a.integer("h", 256), s = a.integer("S", 32), t = a.integer("T", 20), c = a.integer("c", 3);
        int steps = a.integer("steps", 20), warmup = a.integer("warmup", 5);
        System.out.printf(Locale.ROOT, "V=%d d=%d experts=%d k=%d h=%d S=%d T=%d c=%d; gemm %s; load average before: %s%n",
                v, d, n, k, h, s, t, c, GemmBackends.current().name(), EngineBenchmark.loadAverage());
        System.out.println("| model | fwd MACs/token | tokens/s (fwd+bwd) |");
        System.out.println("|---|---:|---:|");
        RecurrentLanguageModel moe = RecurrentLanguageModel.withMoE(v, d, NoisyTopKGating.noisyTopK(d, n, k), h, BalanceWeights.PAPER, 0.1);
        row("LSTM-MoE-" + n + "-LSTM (k=" + k + ", h=" + h + ")", moe.forwardFlopsPerToken(k), recurrent(moe, v, s, t, steps, warmup));
        RecurrentLanguageModel plain = RecurrentLanguageModel.lstmOnly(v, d, 0.1);
        row("LSTM-LSTM", plain.forwardFlopsPerToken(0), recurrent(plain, v, s, t, steps, warmup));
        RecurrentLanguageModel wide = RecurrentLanguageModel.moeOneWide(v, d, k * h, 0.1);
        row("LSTM-MoE-1-Wide-LSTM (h=" + k * h + ")", wide.forwardFlopsPerToken(1), recurrent(wide, v, s, t, steps, warmup));
        MoENetwork window = new MoENetwork(new TokenContextEmbedding(v, c, d, d, TokenContextEmbedding.Mode.CONCAT),
                new MoELayer(NoisyTopKGating.noisyTopK(d, n, k), new Expert(d, h), false, BalanceWeights.PAPER),
                new SoftmaxCrossEntropyHead(d, v));
        long windowMacs = (long) c * d * d + n * (long) d + k * new Expert(d, h).forwardFlopsPerRow() + (long) d * v;
        row("window c=" + c + ", MoE-" + n + " (k=" + k + ", h=" + h + ")", windowMacs, window(window, v, c, s * t, steps, warmup));
        System.out.println("load average after: " + EngineBenchmark.loadAverage());
    }

    private static void row(String name, long macs, double tokensPerSecond) {
        System.out.printf(Locale.ROOT, "| %s | %,d | %,.0f |%n", name, macs, tokensPerSecond);
    }

    static double recurrent(RecurrentLanguageModel model, int v, int s, int t, int steps, int warmup) {
        ModelParameters params = model.initialise(Precision.F32, 1);
        ModelParameters grad = params.zerosLike();
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(Precision.F32);
        RecurrentState state = model.newState(Precision.F32, s);
        SplittableRandom r = new SplittableRandom(2);
        long start = 0;
        for (int i = 0; i < warmup + steps; i++) {
            if (i == warmup) start = System.nanoTime();
            int m = s * t;
            int[] in = new int[m], tg = new int[m];
            long[] ids = new long[m];
            for (int q = 0; q < m; q++) {
                in[q] = r.nextInt(v);
                tg[q] = r.nextInt(v);
                ids[q] = (long) i * m + q;
            }
            grad.clear();
            model.forwardBackward(params, new SequenceBatch(s, t, in, tg, ids, new boolean[s]), state, GateNoise.training(1, i + 1), ws, grad);
        }
        return (double) steps * s * t / ((System.nanoTime() - start) / 1e9);
    }

    static double window(MoENetwork net, int v, int c, int m, int steps, int warmup) {
        ModelParameters params = net.initialise(Precision.F32, 1);
        ModelParameters grad = params.zerosLike();
        MoENetwork.Workspace ws = net.newWorkspace(Precision.F32);
        SplittableRandom r = new SplittableRandom(2);
        long start = 0;
        for (int i = 0; i < warmup + steps; i++) {
            if (i == warmup) start = System.nanoTime();
            int[] tokens = new int[m * c], labels = new int[m];
            long[] ids = new long[m];
            for (int q = 0; q < tokens.length; q++) tokens[q] = r.nextInt(v);
            for (int q = 0; q < m; q++) {
                labels[q] = r.nextInt(v);
                ids[q] = (long) i * m + q;
            }
            grad.clear();
            net.forwardBackward(params, Batch.ofTokens(m, ids, tokens, c, labels), GateNoise.training(1, i + 1), ws, grad);
        }
        return (double) steps * m / ((System.nanoTime() - start) / 1e9);
    }
}
