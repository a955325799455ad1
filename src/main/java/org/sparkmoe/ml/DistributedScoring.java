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
import org.sparkmoe.engine.ShuffleBlock;
import org.sparkmoe.engine.ExpertPartitioner;

import scala.Tuple2;

/**
 * Scoring with the experts on the executors ({@link ExpertTable.Distributed}): the sparse dispatch
 * of paper section 2 done as shuffles, so no expert reaches the driver. The {@link ScoringCodec} reads
 * each input partition a block of rows at a time and turns it into examples (one per row, or a
 * document's tokens); examples travel in {@link ShuffleBlock}s in the model's precision, one per (input
 * block, expert) carrying that block's examples for the expert in routing order (row-major over
 * (example, slot)), with no object per example.
 * <ol>
 *   <li>per input block, the input layer and the gating network (no noise) run with the broadcast
 *       shared tensors; for each chosen expert e the rows routed to it go out keyed (e, block);</li>
 *   <li>these are partitioned like the expert table and zipped with it: each expert runs over all
 *       rows sent to it ({@link FeatureBlocks#BLOCK} at a time) and returns its outputs per incoming
 *       block, keyed (input partition, block);</li>
 *   <li>the outputs go back to the partition of their rows, sorted by block;</li>
 *   <li>each input partition is re-read block by block and gated again (the same deterministic
 *       computation on the same rows, so it yields the same routing, which is checked): the gates
 *       weight the expert outputs, summed per row in slot order (so results do not depend on shuffle
 *       timing), and the head adds the predictions.</li>
 * </ol>
 * Gating twice costs one gating-network pass per row and keeps the shuffled blocks to bare model
 * rows (no indices or gates). The input is read in steps 1 and 4, so its rows are persisted
 * (MEMORY_AND_DISK) for the lifetime of the result: Spark's context cleaner frees them once the
 * result is no longer referenced. Results equal the local model's up to float rounding (other
 * expert batches, another summation order).
 */
final class DistributedScoring {
    private DistributedScoring() {
    }

    /** ShuffleBlock keys ({@code inputPartition << 32 | block}) go back to their input partition. */
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

    /** Keys ({@code expert << 32 | block}) go to the shard of their expert. */
    static final class ExpertKeyPartitioner extends Partitioner {
        private static final long serialVersionUID = 1L;
        private final ExpertPartitioner experts;

        ExpertKeyPartitioner(ExpertPartitioner experts) {
            this.experts = experts;
        }

        @Override
        public int numPartitions() {
            return experts.numPartitions();
        }

        @Override
        public int getPartition(Object key) {
            return experts.shardOf((int) (((Long) key) >>> 32));
        }
    }

    /**
     * The input layer and gating (no noise) of one block of rows, with buffers reused across blocks:
     * {@link #x} the layer's output, {@link #count} the rows routed to each expert.
     */
    static final class Gate {
        final MoENetwork net;
        final Gating gating;
        final List<Row> rows = new ArrayList<>(FeatureBlocks.BLOCK);
        final int[] count;
        Matrix x;
        private GatingState state;
        private int[] index = new int[0];

        private final int d;

        Gate(NetworkSpec spec) {
            net = spec.build();
            d = spec.modelDim();
            gating = net.moe().gating();
            count = new int[net.numExperts()];
        }

        GatingState forward(Parameters shared, Batch batch) {
            int m = batch.size();
            Precision prec = shared.precision();
            x = prec.zeros(m, d);
            net.input().forward(shared, batch, x);
            if (state == null) state = gating.newState(prec);
            gating.forward(shared, x, new long[m], GateNoise.none(), state, new double[gating.statsSize()]);
            Arrays.fill(count, 0);
            for (int i = 0; i < m * state.slots(); i++) if (state.expert()[i] >= 0) count[state.expert()[i]]++;
            return state;
        }

        /** The rows routed to expert e in routing order (row-major over (row, slot)). */
        int[] routedRows(GatingState g, int e) {
            if (index.length < count[e]) index = new int[Math.max(count[e], FeatureBlocks.BLOCK)];
            int slots = g.slots();
            for (int i = 0, q = 0; i < g.rows() * slots; i++) if (g.expert()[i] == e) index[q++] = i / slots;
            return index;
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

    static Dataset<Row> transform(Dataset<?> ds, StructType out, NetworkSpec spec, Parameters shared, ExpertTable.Distributed table,
                                  ScoringCodec codec) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<Parameters> sb = sc.broadcast(shared);
        int d = spec.modelDim();
        int h = spec.expertHidden();
        JavaRDD<Row> rows = ds.toDF().toJavaRDD().persist(StorageLevel.MEMORY_AND_DISK());

        // (1) input layer and gating next to the data: one block per (input block, chosen expert)
        JavaPairRDD<Long, ShuffleBlock> routed = rows.mapPartitionsWithIndex((pi, it) -> new Blocks<Row, Tuple2<Long, ShuffleBlock>>(it) {
            final Gate gate = new Gate(spec);
            int block;

            @Override
            void fill() {
                Precision prec = sb.value().precision();
                codec.read(in, gate.rows);
                GatingState g = gate.forward(sb.value(), codec.encode(gate.rows, prec));
                for (int e = 0; e < gate.count.length; e++) {
                    if (gate.count[e] == 0) continue;
                    Matrix x = prec.zeros(gate.count[e], d);
                    x.gatherRows(gate.x, gate.routedRows(g, e), 0, gate.count[e]);
                    ready.add(new Tuple2<>(((long) e << 32) | block, new ShuffleBlock(pi, e, x)));
                }
                block++;
            }
        }, true).mapToPair(t -> t);

        // (2) each expert over all rows routed to it, where the expert lives
        JavaPairRDD<Long, ShuffleBlock> contributions = table.rdd().zipPartitions(routed.partitionBy(new ExpertKeyPartitioner(table.partitioner())), (ei, ri) -> {
            Map<Integer, Parameters> local = new HashMap<>();
            while (ei.hasNext()) {
                Tuple2<Integer, Parameters> t = ei.next();
                local.put(t._1(), t._2());
            }
            Map<Integer, List<Tuple2<Long, ShuffleBlock>>> byExpert = new HashMap<>();
            while (ri.hasNext()) {
                Tuple2<Long, ShuffleBlock> t = ri.next();
                byExpert.computeIfAbsent(t._2().expert(), k -> new ArrayList<>()).add(t);
            }
            List<Tuple2<Long, ShuffleBlock>> res = new ArrayList<>();
            Expert expert = new Expert(d, h);
            for (Map.Entry<Integer, List<Tuple2<Long, ShuffleBlock>>> en : byExpert.entrySet()) {
                int e = en.getKey();
                Parameters ep = local.get(e);
                if (ep == null) throw new IllegalStateException("expert " + e + " is not in its partition of the expert table");
                Precision prec = ep.precision();
                List<Tuple2<Long, ShuffleBlock>> blocks = en.getValue();
                int total = 0;
                for (Tuple2<Long, ShuffleBlock> t : blocks) total += t._2().rows().rows();
                Matrix x = prec.zeros(total, d);
                int row = 0;
                for (Tuple2<Long, ShuffleBlock> t : blocks) {
                    Matrix rowsIn = t._2().rows();
                    x.slice(row * d, rowsIn.rows(), d).copyFrom(rowsIn);
                    row += rowsIn.rows();
                }
                Matrix y = x.zerosLike();
                ExpertWorkspace ws = new ExpertWorkspace(prec, h);
                for (int from = 0; from < total; from += FeatureBlocks.BLOCK) {
                    int m = Math.min(FeatureBlocks.BLOCK, total - from);
                    expert.forward(ep, x.slice(from * d, m, d), ws, y.slice(from * d, m, d));
                }
                row = 0;
                for (Tuple2<Long, ShuffleBlock> t : blocks) {
                    int c = t._2().rows().rows();
                    int pi = t._2().partition();
                    res.add(new Tuple2<>(((long) pi << 32) | (t._1() & 0xFFFFFFFFL), new ShuffleBlock(pi, e, y.slice(row * d, c, d).copy())));
                    row += c;
                }
            }
            return res.iterator();
        }).mapToPair(t -> t);

        // (3) back to the rows' partitions, in block order
        JavaPairRDD<Long, ShuffleBlock> sorted = contributions.repartitionAndSortWithinPartitions(new RowPartitioner(rows.getNumPartitions()));

        // (4) gate again, weight and sum the expert outputs per example in slot order, then the head
        boolean residual = spec.residual();
        JavaRDD<Row> scored = rows.zipPartitions(sorted, (ri, yi) -> new Blocks<Row, Row>(ri) {
            final Gate gate = new Gate(spec);
            Tuple2<Long, ShuffleBlock> pending;
            int block;

            @Override
            void fill() {
                Parameters sh = sb.value();
                Precision prec = sh.precision();
                codec.read(in, gate.rows);
                Batch batch = codec.encode(gate.rows, prec);
                GatingState g = gate.forward(sh, batch);
                int m = batch.size();
                int slots = g.slots();
                Matrix ym = prec.zeros(m, d);
                if (residual) ym.copyFrom(gate.x);
                Matrix[] byExpert = new Matrix[gate.count.length];
                while (true) {
                    if (pending == null) {
                        if (!yi.hasNext()) break;
                        pending = yi.next();
                    }
                    long b = pending._1() & 0xFFFFFFFFL;
                    if (b > block) break;
                    if (b < block) throw new IllegalStateException("expert outputs for block " + b + " arrived after the block");
                    ShuffleBlock out = pending._2();
                    if (out.rows().rows() != gate.count[out.expert()]) {
                        throw new IllegalStateException("block " + block + ": expert " + out.expert() + " returned " + out.rows().rows()
                                + " rows, the gating routes " + gate.count[out.expert()] + " (the input changed between passes?)");
                    }
                    byExpert[out.expert()] = out.rows();
                    pending = null;
                }
                int[] next = new int[gate.count.length];
                for (int r = 0; r < m; r++) {
                    for (int s = 0; s < slots; s++) {
                        int e = g.expert()[r * slots + s];
                        if (e < 0) continue;
                        if (byExpert[e] == null) throw new IllegalStateException("block " + block + ": no outputs from expert " + e);
                        ym.addScaledRow(r, byExpert[e], next[e]++, g.gate()[r * slots + s]);
                    }
                }
                ScoringCodec.Decoder decoder = codec.decoder(gate.rows, batch);
                for (int from = 0; from < m; from += FeatureBlocks.BLOCK) {
                    int n = Math.min(FeatureBlocks.BLOCK, m - from);
                    Matrix o = prec.zeros(n, spec.outputs());
                    gate.net.head().predict(sh, ym.slice(from * d, n, d), o);
                    decoder.take(from, o, g, from);
                }
                decoder.finish(ready);
                block++;
            }
        });
        return ds.sparkSession().createDataFrame(scored, out);
    }
}
