package org.sparkmoe.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

/**
 * Runs the JMH benchmarks of this package (JMH's usual command line; default: both benchmarks) and
 * prints the GFLOP/s table of BENCHMARKS.md: expert forward+backward next to raw sgemm running
 * the same six GEMMs. JMH measures milliseconds per invocation; flops per invocation come from
 * {@link ExpertBenchmark#flops} and {@link SgemmBenchmark#flops}.
 */
public final class BenchMain {
    private BenchMain() {
    }

    public static void main(String[] args) throws Exception {
        String[] a = args;
        if (a.length == 0 || a[0].startsWith("-")) {
            // No benchmark regexp given: run both of ours, not every benchmark on the classpath.
            String[] withRegexp = new String[args.length + 1];
            withRegexp[0] = "org\\.sparkmoe\\.bench\\..*";
            System.arraycopy(args, 0, withRegexp, 1, args.length);
            a = withRegexp;
        }
        Collection<RunResult> results = new Runner(new CommandLineOptions(a)).run();

        Map<String, Double> expert = new LinkedHashMap<>();
        Map<String, Double> six = new LinkedHashMap<>();
        Map<String, Double> nn = new LinkedHashMap<>();
        for (RunResult r : results) {
            var p = r.getParams();
            String backend = p.getParam("backend");
            int rows = Integer.parseInt(p.getParam("rows"));
            int d = Integer.parseInt(p.getParam("d"));
            int h = Integer.parseInt(p.getParam("h"));
            double ms = r.getPrimaryResult().getScore();
            String key = backend + "|" + rows + "|" + d + "|" + h;
            if (p.getBenchmark().endsWith("ExpertBenchmark.forwardBackward")) {
                expert.put(key, ExpertBenchmark.flops(rows, d, h) / (ms * 1e6));
            } else if ("six".equals(p.getParam("op"))) {
                six.put(key, SgemmBenchmark.flops("six", rows, d, h) / (ms * 1e6));
            } else {
                nn.put(key, SgemmBenchmark.flops("nn", rows, d, h) / (ms * 1e6));
            }
        }
        List<String> keys = new ArrayList<>(expert.keySet());
        for (String k : six.keySet()) if (!keys.contains(k)) keys.add(k);
        System.out.println();
        System.out.println("| back end | rows | d | h | expert fwd+bwd GFLOP/s | sgemm, same 6 GEMMs GFLOP/s | expert / sgemm | sgemm NN rows x d x h GFLOP/s |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (String k : keys) {
            String[] f = k.split("\\|");
            Double e = expert.get(k), s = six.get(k), n = nn.get(k);
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s |%n", f[0], f[1], f[2], f[3],
                    fmt(e), fmt(s), e != null && s != null ? String.format(Locale.ROOT, "%.0f%%", 100 * e / s) : "-", fmt(n));
        }
    }

    private static String fmt(Double v) {
        return v == null ? "-" : String.format(Locale.ROOT, "%.1f", v);
    }
}
