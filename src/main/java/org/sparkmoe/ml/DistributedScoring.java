package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.expert.ExpertWorkspace;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.Gating;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;

import scala.Tuple2;

/**
 * Scoring with the experts on the executors ({@link ExpertTable.Distributed}): the sparse dispatch
 * of section 2 done as shuffles, so no expert reaches the driver. Rows travel in blocks: each
 * input partition is read {@link MoESupport#BLOCK} rows at a time, and one record per (block,
 * expert) carries that block's rows for the expert (no object per row).
 * <ol>
 *   <li>per input block, the input layer and the gating network (no noise) run with the broadcast
 *       shared tensors; for each expert chosen by some row it emits {@code expert -> [partition,
 *       block, c, c x (row, slot, gate), c x d inputs]};</li>
 *   <li>these are partitioned like the expert table and zipped with it: each expert runs over all
 *       rows sent to it ({@link MoESupport#BLOCK} at a time) and emits, per incoming record,
 *       {@code (partition, block) -> [expert, c, c x (row, slot, gate), c x d gated outputs]};</li>
 *   <li>the outputs go back to the partition of their rows, sorted by block;</li>
 *   <li>each input partition is re-read block by block and merged with its sorted outputs (a
 *       streaming merge: both are in block order); per row the outputs are summed in slot order (so
 *       results do not depend on shuffle timing) and the head adds the predictions.</li>
 * </ol>
 * The input is read in steps 1 and 4, so its rows are persisted (MEMORY_AND_DISK) for the lifetime
 * of the result: Spark's context cleaner frees them once the result is no longer referenced.
 * Results equal the local model's up to float rounding (other expert batches, another summation
 * order).
 */
final class DistributedScoring {
    private DistributedScoring() {
    }

    /** Block keys (input partition << 32 | block) go back to their input partition. */
    static final class RowPartitioner extends Partitioner {
        private static final long serialVersionUID = 1L;
        private final int n;

        RowPartitioner(int n) {
            this.n = n;
        }

        @Override
        public int numPartitions() {
            return n;
        }

        @Override
        public int getPartition(Object key) {
            return (int) (((Long) key) >>> 32);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof RowPartitioner r && r.n == n;
        }

        @Override
        public int hashCode() {
            return n;
        }
    }

    /** Items produced a block at a time from an input iterator. */
    abstract static class Blocks<I, O> implements Iterator<O> {
        final Iterator<I> in;
        final List<O> ready = new ArrayList<>();
        private int at;

        Blocks(Iterator<I> in) {
            this.in = in;
        }

        /** Consumes one block of {@code in} (which has an item left) and appends its outputs to {@link #ready}. */
        abstract void fill();

        @Override
        public boolean hasNext() {
            while (at >= ready.size()) {
                if (!in.hasNext()) return false;
                ready.clear();
                at = 0;
                fill();
            }
            return true;
        }

        @Override
        public O next() {
            if (!hasNext()) throw new NoSuchElementException();
            return ready.get(at++);
        }
    }

    static Dataset<Row> transform(Dataset<?> ds, MoEParams<?> p, boolean classifier, NetworkSpec spec, Parameters shared,
                                  ExpertTable.Distributed table) {
        StructType in = ds.schema();
        StructType out = MoESupport.outputSchema(in, p, classifier);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<Parameters> sb = sc.broadcast(shared);
        int fi = in.fieldIndex(p.getFeaturesCol());
        String fc = p.getFeaturesCol();
        int dim = spec.inputDim();
        int d = spec.modelDim();
        int h = spec.expertHidden();
        int width = in.size();
        MoESupport.Outputs outputs = MoESupport.Outputs.of(p, classifier);
        JavaRDD<Row> rows = ds.toDF().toJavaRDD().persist(StorageLevel.MEMORY_AND_DISK());

        // (1) input layer and gating next to the data: one record per (block, chosen expert)
        JavaPairRDD<Integer, double[]> routed = rows.mapPartitionsWithIndex((pi, it) -> new Blocks<Row, Tuple2<Integer, double[]>>(it) {
            final MoENetwork net = spec.build();
            final Gating gating = net.moe().gating();
            final List<Row> buf = new ArrayList<>(MoESupport.BLOCK);
            final int[] count = new int[net.numExperts()];
            int block;

            @Override
            void fill() {
                Parameters sh = sb.value();
                Precision prec = sh.precision();
                MoESupport.nextBlock(in, buf);
                int m = buf.size();
                Matrix f = prec.zeros(m, dim);
                for (int r = 0; r < m; r++) MoESupport.features(buf.get(r), fi, fc, dim, f, r);
                Matrix x = prec.zeros(m, d);
                net.input().forward(sh, Batch.ofFeatures(m, new long[m], f, (int[]) null), x);
                GatingState g = gating.newState(prec);
                gating.forward(sh, x, new long[m], GateNoise.none(), g, new double[gating.statsSize()]);
                int slots = g.slots();
                Arrays.fill(count, 0);
                for (int i = 0; i < m * slots; i++) if (g.expert()[i] >= 0) count[g.expert()[i]]++;
                double[][] rec = new double[count.length][];
                int[] at = new int[count.length];
                for (int e = 0; e < count.length; e++) {
                    if (count[e] == 0) continue;
                    rec[e] = new double[3 + count[e] * (3 + d)];
                    rec[e][0] = pi;
                    rec[e][1] = block;
                    rec[e][2] = count[e];
                    ready.add(new Tuple2<>(e, rec[e]));
                }
                for (int r = 0; r < m; r++) {
                    for (int s = 0; s < slots; s++) {
                        int e = g.expert()[r * slots + s];
                        if (e < 0) continue;
                        double[] v = rec[e];
                        int q = at[e]++;
                        v[3 + 3 * q] = r;
                        v[4 + 3 * q] = s;
                        v[5 + 3 * q] = g.gate()[r * slots + s];
                        int o = 3 + 3 * count[e] + q * d;
                        for (int j = 0; j < d; j++) v[o + j] = x.get(r, j);
                    }
                }
                block++;
            }
        }, true).mapToPair(t -> t);

        // (2) each expert over all rows routed to it, where the expert lives
        JavaPairRDD<Long, double[]> contributions = table.rdd().zipPartitions(routed.partitionBy(table.partitioner()), (ei, ri) -> {
            Map<Integer, Parameters> local = new HashMap<>();
            while (ei.hasNext()) {
                Tuple2<Integer, Parameters> t = ei.next();
                local.put(t._1(), t._2());
            }
            Map<Integer, List<double[]>> byExpert = new HashMap<>();
            while (ri.hasNext()) {
                Tuple2<Integer, double[]> t = ri.next();
                byExpert.computeIfAbsent(t._1(), k -> new ArrayList<>()).add(t._2());
            }
            List<Tuple2<Long, double[]>> res = new ArrayList<>();
            Expert expert = new Expert(d, h);
            for (Map.Entry<Integer, List<double[]>> en : byExpert.entrySet()) {
                int e = en.getKey();
                Parameters ep = local.get(e);
                if (ep == null) throw new IllegalStateException("expert " + e + " is not in its partition of the expert table");
                Precision prec = ep.precision();
                List<double[]> recs = en.getValue();
                int total = 0;
                for (double[] v : recs) total += (int) v[2];
                Matrix x = prec.zeros(total, d);
                int row = 0;
                for (double[] v : recs) {
                    int c = (int) v[2];
                    for (int q = 0, o = 3 + 3 * c; q < c; q++) for (int j = 0; j < d; j++) x.set(row + q, j, v[o + q * d + j]);
                    row += c;
                }
                Matrix y = x.zerosLike();
                ExpertWorkspace ws = new ExpertWorkspace(prec, h);
                for (int from = 0; from < total; from += MoESupport.BLOCK) {
                    int m = Math.min(MoESupport.BLOCK, total - from);
                    expert.forward(ep, x.slice(from * d, m, d), ws, y.slice(from * d, m, d));
                }
                row = 0;
                for (double[] v : recs) {
                    int c = (int) v[2];
                    double[] w = new double[2 + c * (3 + d)];
                    w[0] = e;
                    w[1] = c;
                    System.arraycopy(v, 3, w, 2, 3 * c);
                    for (int q = 0, o = 2 + 3 * c; q < c; q++) {
                        double gate = v[5 + 3 * q];
                        for (int j = 0; j < d; j++) w[o + q * d + j] = gate * y.get(row + q, j);
                    }
                    res.add(new Tuple2<>(((long) v[0] << 32) | (long) v[1], w));
                    row += c;
                }
            }
            return res.iterator();
        }).mapToPair(t -> t);

        // (3) back to the rows' partitions, in block order
        JavaPairRDD<Long, double[]> sorted = contributions.repartitionAndSortWithinPartitions(new RowPartitioner(rows.getNumPartitions()));

        // (4) per row, the outputs summed in slot order, then the head, next to the data
        boolean residual = spec.residual();
        JavaRDD<Row> scored = rows.zipPartitions(sorted, (ri, yi) -> new Blocks<Row, Row>(ri) {
            final MoENetwork net = spec.build();
            final int slots = net.moe().gating().newState(Precision.F64).slots();
            final List<Row> buf = new ArrayList<>(MoESupport.BLOCK);
            final double[] sum = new double[MoESupport.BLOCK * slots * d];
            final int[] experts = new int[MoESupport.BLOCK * slots];
            final double[] gates = new double[MoESupport.BLOCK * slots];
            Tuple2<Long, double[]> pending;
            int block;

            @Override
            void fill() {
                Parameters sh = sb.value();
                Precision prec = sh.precision();
                MoESupport.nextBlock(in, buf);
                int m = buf.size();
                Arrays.fill(experts, -1);
                Arrays.fill(gates, 0);
                Arrays.fill(sum, 0, m * slots * d, 0);
                while (true) {
                    if (pending == null) {
                        if (!yi.hasNext()) break;
                        pending = yi.next();
                    }
                    long b = pending._1() & 0xFFFFFFFFL;
                    if (b > block) break;
                    if (b < block) throw new IllegalStateException("expert outputs for block " + b + " arrived after the block");
                    double[] v = pending._2();
                    int c = (int) v[1];
                    for (int q = 0, o = 2 + 3 * c; q < c; q++) {
                        int at = (int) v[2 + 3 * q] * slots + (int) v[3 + 3 * q];
                        experts[at] = (int) v[0];
                        gates[at] = v[4 + 3 * q];
                        System.arraycopy(v, o + q * d, sum, at * d, d);
                    }
                    pending = null;
                }
                Matrix ym = prec.zeros(m, d);
                if (residual) {
                    Matrix f = prec.zeros(m, dim);
                    for (int r = 0; r < m; r++) MoESupport.features(buf.get(r), fi, fc, dim, f, r);
                    net.input().forward(sh, Batch.ofFeatures(m, new long[m], f, (int[]) null), ym);
                }
                for (int r = 0; r < m; r++) {
                    for (int s = 0; s < slots; s++) {
                        int at = r * slots + s;
                        if (experts[at] < 0) continue;
                        for (int j = 0; j < d; j++) ym.set(r, j, ym.get(r, j) + sum[at * d + j]);
                    }
                }
                Matrix o = prec.zeros(m, spec.outputs());
                net.head().predict(sh, ym, o);
                for (int r = 0; r < m; r++) {
                    Row row = buf.get(r);
                    List<Object> vals = new ArrayList<>(width + 4);
                    for (int c = 0; c < width; c++) vals.add(row.get(c));
                    outputs.append(vals, o, r, experts, gates, r * slots, slots);
                    ready.add(RowFactory.create(vals.toArray()));
                }
                block++;
            }
        });
        return ds.sparkSession().createDataFrame(scored, out);
    }
}
