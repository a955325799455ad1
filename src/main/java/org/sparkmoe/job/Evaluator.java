package org.sparkmoe.job;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.sparkmoe.app.Scorer;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.synthetic.SpecialisationMetric;
import org.sparkmoe.core.network.RowBlock;

/**
 * Held-out evaluation and batch scoring on Spark: the trained parameters are broadcast, every
 * partition runs its own rows through the application layer's {@link Scorer} (the ML models'
 * transform uses it too), and only per-partition sums (evaluate) or the scored rows travel on.
 */
final class Evaluator {
    private Evaluator() {
    }

    /** Held-out metrics. NaN where a metric does not apply. */
    record Result(long examples, double logLoss, double perplexity, double accuracy, double rmse, double[] expertShare,
                  double specialisationNmi) {
        Map<String, Object> toMap(NetworkSpec.Task task) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("examples", examples);
            switch (task) {
                case LANGUAGE_MODEL -> {
                    m.put("logLoss", logLoss);
                    m.put("perplexity", perplexity);
                    m.put("accuracy", accuracy);
                }
                case CLASSIFICATION -> {
                    m.put("accuracy", accuracy);
                    m.put("logLoss", logLoss);
                }
                case REGRESSION -> m.put("rmse", rmse);
            }
            if (!Double.isNaN(specialisationNmi)) m.put("specialisationNmi", specialisationNmi);
            return m;
        }
    }

    /** A block's rows as a Batch. */
    static Batch rows(RowBlock b, Precision p) {
        int[] rows = new int[b.size()];
        for (int i = 0; i < rows.length; i++) rows[i] = i;
        return RowBlock.select(new RowBlock[] {b}, new int[rows.length], rows, 0, rows.length, p);
    }

    static int top1(GatingState g, int row) {
        int best = -1;
        double bg = -1;
        for (int s = 0; s < g.slots(); s++) {
            int e = g.expert()[row * g.slots() + s];
            double v = g.gate()[row * g.slots() + s];
            if (e >= 0 && v > bg) {
                bg = v;
                best = e;
            }
        }
        return best;
    }

    static Result evaluate(JavaSparkContext sc, NetworkSpec spec, ModelParameters params, JavaRDD<RowBlock> data,
                           MarkovMixtureCorpus corpus) {
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        int n = spec.numExperts();
        int domains = corpus == null ? 0 : corpus.domains();
        int width = 5 + n + domains * n;
        boolean regression = spec.task() == NetworkSpec.Task.REGRESSION;
        sc.setJobGroup("spark-moe-evaluate", "spark-moe: evaluate on " + data.getNumPartitions() + " partitions", false);
        try {
            List<double[]> parts = data.mapPartitions(it -> {
                Scorer scorer = new Scorer(spec, pb.value());
                double[] acc = new double[width];
                Map<Long, Integer> domainOf = new HashMap<>();
                while (it.hasNext()) {
                    RowBlock b = it.next();
                    scorer.score(rows(b, scorer.precision()), (batch, from, out, g) -> {
                        for (int r = 0; r < batch.size(); r++) {
                            acc[0]++;
                            if (regression) {
                                for (int o = 0; o < out.cols(); o++) {
                                    double d = out.get(r, o) - batch.targets().get(r, o);
                                    acc[3] += d * d;
                                    acc[4]++;
                                }
                            } else {
                                int label = batch.labels()[r];
                                acc[1] -= Math.log(Math.max(out.get(r, label), 1e-30));
                                if (Scorer.argmax(out, r) == label) acc[2]++;
                            }
                            int e = top1(g, r);
                            if (e >= 0) {
                                acc[5 + e]++;
                                if (corpus != null) {
                                    long doc = batch.exampleIds()[r] >>> 24;
                                    int d = domainOf.computeIfAbsent(doc, x -> corpus.document(x).domain());
                                    acc[5 + n + d * n + e]++;
                                }
                            }
                        }
                    });
                }
                return Collections.singletonList(acc).iterator();
            }).collect();
            double[] sum = new double[width];
            for (double[] a : parts) for (int i = 0; i < width; i++) sum[i] += a[i];
            long count = (long) sum[0];
            double[] share = new double[n];
            double used = 0;
            for (int e = 0; e < n; e++) used += sum[5 + e];
            for (int e = 0; e < n; e++) share[e] = used > 0 ? sum[5 + e] / used : Double.NaN;
            double nmi = Double.NaN;
            if (corpus != null && used > 0) {
                double[][] counts = new double[domains][n];
                for (int d = 0; d < domains; d++) for (int e = 0; e < n; e++) counts[d][e] = sum[5 + n + d * n + e];
                nmi = SpecialisationMetric.of(counts).nmi();
            }
            if (regression) {
                return new Result(count, Double.NaN, Double.NaN, Double.NaN, Math.sqrt(sum[3] / sum[4]), share, nmi);
            }
            double ll = sum[1] / count;
            return new Result(count, ll, Math.exp(ll), sum[2] / count, Double.NaN, share, nmi);
        } finally {
            pb.destroy(false);
            sc.clearJobGroup();
        }
    }

    /**
     * Rows of the scoring output: id, prediction (class id, or regression values), probability of the
     * predicted class, all class probabilities (classification), and optionally the experts and gates.
     */
    static JavaRDD<Row> score(JavaSparkContext sc, NetworkSpec spec, ModelParameters params, JavaRDD<RowBlock> data,
                              boolean withExperts, Broadcast<ModelParameters> pb) {
        boolean regression = spec.task() == NetworkSpec.Task.REGRESSION;
        boolean classification = spec.task() == NetworkSpec.Task.CLASSIFICATION;
        return data.mapPartitions(it -> {
            Scorer scorer = new Scorer(spec, pb.value());
            List<Row> out = new ArrayList<>();
            while (it.hasNext()) {
                RowBlock b = it.next();
                scorer.score(rows(b, scorer.precision()), (batch, from, o, g) -> {
                    for (int r = 0; r < batch.size(); r++) {
                        List<Object> v = new ArrayList<>();
                        v.add(batch.exampleIds()[r]);
                        if (regression) {
                            v.add(Scorer.row(o, r));
                        } else {
                            int arg = Scorer.argmax(o, r);
                            v.add(arg);
                            v.add(o.get(r, arg));
                            v.add(batch.labels()[r]);
                            if (classification) v.add(Scorer.row(o, r));
                        }
                        if (withExperts) {
                            List<Integer> es = new ArrayList<>();
                            List<Double> gs = new ArrayList<>();
                            for (int s = 0; s < g.slots(); s++) {
                                int e = g.expert()[r * g.slots() + s];
                                if (e >= 0) {
                                    es.add(e);
                                    gs.add(g.gate()[r * g.slots() + s]);
                                }
                            }
                            v.add(es.stream().mapToInt(Integer::intValue).toArray());
                            v.add(gs.stream().mapToDouble(Double::doubleValue).toArray());
                        }
                        out.add(RowFactory.create(toScala(v)));
                    }
                });
            }
            return out.iterator();
        });
    }

    private static Object[] toScala(List<Object> v) {
        Object[] a = v.toArray();
        for (int i = 0; i < a.length; i++) {
            if (a[i] instanceof double[] d) {
                Double[] boxed = new Double[d.length];
                for (int j = 0; j < d.length; j++) boxed[j] = d[j];
                a[i] = boxed;
            } else if (a[i] instanceof int[] d) {
                Integer[] boxed = new Integer[d.length];
                for (int j = 0; j < d.length; j++) boxed[j] = d[j];
                a[i] = boxed;
            }
        }
        return a;
    }
}
