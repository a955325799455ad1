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
 * of section 2 done as shuffles, so no expert reaches the driver.
 * <ol>
 *   <li>per input partition, the input layer and the gating network (no noise) run with the broadcast
 *       shared tensors and emit, for each (row, slot) with a chosen expert, {@code expert -> [row key,
 *       slot, gate, x]};</li>
 *   <li>these are partitioned like the expert table and zipped with it: each expert runs once per
 *       block of the rows sent to it and emits {@code row key -> [slot, expert, gate, gate * E(x)]};</li>
 *   <li>the contributions go back to the partition of their row, sorted by row key;</li>
 *   <li>each input partition is merged with its sorted contributions (a streaming merge: both are in
 *       row order), the contributions are summed in slot order (so results do not depend on shuffle
 *       timing) and the head adds the outputs.</li>
 * </ol>
 * The input is read in steps 1 and 4, so its rows are persisted (MEMORY_AND_DISK) for the lifetime
 * of the result: Spark's context cleaner frees them once the result is no longer referenced.
 * Results equal the local model's up to float rounding (another summation order).
 */
final class DistributedScoring {
    private DistributedScoring() {
    }

    /** Row keys (input partition << 32 | position) go back to their input partition. */
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

        // (1) input layer and gating next to the data
        JavaPairRDD<Integer, double[]> routed = rows.mapPartitionsWithIndex((pi, it) -> new Blocks<Row, Tuple2<Integer, double[]>>(it) {
            final MoENetwork net = spec.build();
            final Gating gating = net.moe().gating();
            final List<Row> buf = new ArrayList<>(MoESupport.BLOCK);
            long pos;

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
                for (int r = 0; r < m; r++) {
                    long key = ((long) pi << 32) | (pos + r);
                    for (int s = 0; s < slots; s++) {
                        int e = g.expert()[r * slots + s];
                        if (e < 0) continue;
                        double[] v = new double[d + 3];
                        v[0] = Double.longBitsToDouble(key);
                        v[1] = s;
                        v[2] = g.gate()[r * slots + s];
                        for (int j = 0; j < d; j++) v[j + 3] = x.get(r, j);
                        ready.add(new Tuple2<>(e, v));
                    }
                }
                pos += m;
            }
        }, true).mapToPair(t -> t);

        // (2) each expert on the rows routed to it, where the expert lives
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
                Parameters ep = local.get(en.getKey());
                if (ep == null) throw new IllegalStateException("expert " + en.getKey() + " is not in its partition of the expert table");
                Precision prec = ep.precision();
                ExpertWorkspace ws = new ExpertWorkspace(prec, h);
                List<double[]> items = en.getValue();
                int block = MoESupport.BLOCK;
                Matrix x = prec.zeros(Math.min(block, items.size()), d);
                Matrix o = x.zerosLike();
                for (int from = 0; from < items.size(); from += block) {
                    int m = Math.min(block, items.size() - from);
                    Matrix xm = x.topRows(m);
                    Matrix om = o.topRows(m);
                    for (int r = 0; r < m; r++) for (int j = 0; j < d; j++) xm.set(r, j, items.get(from + r)[j + 3]);
                    expert.forward(ep, xm, ws, om);
                    for (int r = 0; r < m; r++) {
                        double[] item = items.get(from + r);
                        double[] y = new double[d + 3];
                        y[0] = item[1];
                        y[1] = en.getKey();
                        y[2] = item[2];
                        for (int j = 0; j < d; j++) y[j + 3] = item[2] * om.get(r, j);
                        res.add(new Tuple2<>(Double.doubleToRawLongBits(item[0]), y));
                    }
                }
            }
            return res.iterator();
        }).mapToPair(t -> t);

        // (3) back to the rows' partitions, in row order
        JavaPairRDD<Long, double[]> sorted = contributions.repartitionAndSortWithinPartitions(new RowPartitioner(rows.getNumPartitions()));

        // (4) sum per row in slot order, then the head, next to the data
        boolean residual = spec.residual();
        JavaRDD<Row> scored = rows.zipPartitions(sorted, (ri, yi) -> new Blocks<Row, Row>(ri) {
            final MoENetwork net = spec.build();
            final int slots = net.moe().gating().newState(Precision.F64).slots();
            final List<Row> buf = new ArrayList<>(MoESupport.BLOCK);
            final double[][] bySlot = new double[MoESupport.BLOCK * slots][];
            final int[] experts = new int[MoESupport.BLOCK * slots];
            final double[] gates = new double[MoESupport.BLOCK * slots];
            Tuple2<Long, double[]> pending;
            long pos;

            @Override
            void fill() {
                Parameters sh = sb.value();
                Precision prec = sh.precision();
                MoESupport.nextBlock(in, buf);
                int m = buf.size();
                Arrays.fill(bySlot, null);
                Arrays.fill(experts, -1);
                Arrays.fill(gates, 0);
                while (true) {
                    if (pending == null) {
                        if (!yi.hasNext()) break;
                        pending = yi.next();
                    }
                    long r = (pending._1() & 0xFFFFFFFFL) - pos;
                    if (r >= m) break;
                    if (r < 0) throw new IllegalStateException("expert output for row " + (r + pos) + " arrived after the row");
                    double[] v = pending._2();
                    int at = (int) r * slots + (int) v[0];
                    bySlot[at] = v;
                    experts[at] = (int) v[1];
                    gates[at] = v[2];
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
                        double[] v = bySlot[r * slots + s];
                        if (v != null) for (int j = 0; j < d; j++) ym.set(r, j, ym.get(r, j) + v[j + 3]);
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
                pos += m;
            }
        });
        return ds.sparkSession().createDataFrame(scored, out);
    }
}
