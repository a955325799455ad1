package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.fs.Path;
import org.apache.spark.HashPartitioner;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
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
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

import scala.Tuple2;

/**
 * A saved {@link MoEClassificationModel} or {@link MoERegressionModel} scored with its experts kept
 * on the executors: for models whose experts do not fit on the driver.
 *
 * <p>{@link #load} reads the spec and the shared tensors (input projection, gating network, head) to
 * the driver, and turns the {@code expert} rows of the saved parameter table into a persisted
 * {@code (expert, Parameters)} pair RDD, hash-partitioned by expert, built on the executors (the rows
 * are combined per expert with {@code combineByKey}; no expert tensor reaches the driver).
 *
 * <p>{@link #transform} routes rows to experts on the executors: (1) per input partition, the
 * projection and gating (no noise) run with the broadcast shared tensors, emitting for each chosen
 * expert {@code (expert, [row key, gate, x])}; (2) these are partitioned like the experts and zipped
 * with them: each expert runs on the rows sent to it and emits {@code (row key, gate * expert(x))};
 * (3) the contributions are summed per row ({@code reduceByKey}) into partitions aligned with the
 * input's; (4) each input partition is zipped with its summed rows and the head adds the outputs.
 * The input is read twice (steps 1 and 4), so it must be deterministic (same rows, same order per
 * partition) like any input scored in more than one pass; cache it otherwise. Outputs:
 * predictionCol (double; the class index for a classifier) and, for a classifier, probabilityCol.
 * Results equal the model's own transform up to float rounding (contributions are summed in another
 * order).
 *
 * <p>What still goes through the driver: the network spec, the shared tensors (broadcast), and,
 * when a model is saved, the model's in-memory parameters (a fitted model holds all of them on the
 * driver; {@link MoEPersistence} writes the expert table in bounded chunks so that no second copy
 * of all experts is built there).
 */
public final class DistributedExpertModel implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final NetworkSpec spec;
    private final Parameters shared;
    private final transient JavaPairRDD<Integer, Parameters> experts;
    private final Partitioner expertPartitioner;
    private String featuresCol = "features";
    private String predictionCol = "prediction";
    private String probabilityCol = "probability";

    private DistributedExpertModel(NetworkSpec spec, Parameters shared, JavaPairRDD<Integer, Parameters> experts, Partitioner p) {
        this.spec = spec;
        this.shared = shared;
        this.experts = experts;
        this.expertPartitioner = p;
    }

    /** Reads a model saved by a classification or regression model's writer, experts distributed over {@code partitions}. */
    public static DistributedExpertModel load(SparkSession spark, String path, int partitions) {
        Map<String, String> specMap = new HashMap<>();
        for (Row r : spark.read().schema(MoEPersistence.SPEC_SCHEMA).json(new Path(path, "spec").toString()).collectAsList()) {
            specMap.put(r.getString(0), r.getString(1));
        }
        Precision precision = Precision.valueOf(specMap.getOrDefault("precision", "F32"));
        NetworkSpec spec = NetworkSpec.fromMap(specMap);
        if (spec.task() == NetworkSpec.Task.LANGUAGE_MODEL) {
            throw new IllegalArgumentException(path + ": distributed scoring covers classification and regression models");
        }
        MoENetwork net = spec.build();
        Parameters shared = net.sharedLayout().allocate(precision);
        Dataset<Row> table = spark.read().parquet(new Path(path, "parameters").toString());
        List<Row> sharedRows = table.where(functions.col("expert").lt(0)).collectAsList();
        for (Row r : sharedRows) copyInto(shared, r.getString(r.fieldIndex("tensor")), r.getList(r.fieldIndex("values")), path);
        if (sharedRows.size() != shared.layout().entries().size()) {
            throw new IllegalStateException(path + ": parameter table holds " + sharedRows.size() + " of "
                    + shared.layout().entries().size() + " shared tensors");
        }
        int n = net.numExperts();
        ParameterLayout layout = net.moe().expert().layout();
        int tensors = layout.entries().size();
        Partitioner part = new HashPartitioner(Math.max(1, Math.min(partitions, n)));
        JavaPairRDD<Integer, double[]> cells = table.where(functions.col("expert").geq(0)).toJavaRDD().mapToPair(r -> {
            int e = r.getInt(r.fieldIndex("expert"));
            if (e >= n) throw new IllegalStateException(path + ": parameter table names expert " + e + " of " + n);
            String tensor = r.getString(r.fieldIndex("tensor"));
            if (!layout.contains(tensor)) throw new IllegalStateException(path + ": unknown expert tensor '" + tensor + "'");
            List<Double> v = r.getList(r.fieldIndex("values"));
            double[] out = new double[v.size() + 1];
            out[0] = layout.indexOf(tensor);
            for (int i = 0; i < v.size(); i++) out[i + 1] = v.get(i);
            return new Tuple2<>(e, out);
        });
        JavaPairRDD<Integer, Parameters> experts = cells.combineByKey(v -> {
            Parameters p = layout.allocate(precision);
            set(p, v, path);
            return p;
        }, (p, v) -> {
            set(p, v, path);
            return p;
        }, (a, b) -> {
            a.flat().axpy(1, b.flat()); // disjoint tensors: each tensor is set in exactly one of them
            return a;
        }, part).persist(StorageLevel.MEMORY_AND_DISK());
        long found = experts.count();
        if (found != n) throw new IllegalStateException(path + ": parameter table holds " + found + " of " + n + " experts");
        return new DistributedExpertModel(spec, shared, experts, part);
    }

    private static void set(Parameters p, double[] v, String path) {
        ParameterLayout.Entry e = p.layout().entries().get((int) v[0]);
        if (v.length - 1 != e.size()) throw new IllegalStateException(path + ": tensor '" + e.name() + "' has " + (v.length - 1) + " values");
        Matrix m = p.get(e.name());
        for (int i = 1, r = 0; r < e.rows(); r++) for (int c = 0; c < e.cols(); c++) m.set(r, c, v[i++]);
    }

    private static void copyInto(Parameters p, String tensor, List<Double> v, String path) {
        if (!p.layout().contains(tensor)) throw new IllegalStateException(path + ": unknown shared tensor '" + tensor + "'");
        double[] d = new double[v.size() + 1];
        d[0] = p.layout().indexOf(tensor);
        for (int i = 0; i < v.size(); i++) d[i + 1] = v.get(i);
        set(p, d, path);
    }

    public NetworkSpec spec() {
        return spec;
    }

    /** The experts: (expert index, its parameters), on the executors. */
    public JavaPairRDD<Integer, Parameters> experts() {
        return experts;
    }

    public DistributedExpertModel setFeaturesCol(String c) {
        featuresCol = c;
        return this;
    }

    public DistributedExpertModel setPredictionCol(String c) {
        predictionCol = c;
        return this;
    }

    public DistributedExpertModel setProbabilityCol(String c) {
        probabilityCol = c;
        return this;
    }

    /** Frees the persisted experts. */
    public void unpersist() {
        experts.unpersist(false);
    }

    /** Rows keyed (partition << 32 | position) go back to their input partition. */
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
    }

    public Dataset<Row> transform(Dataset<?> ds) {
        StructType in = ds.schema();
        MoESupport.requireVectorColumn(in, "featuresCol", featuresCol);
        boolean classifier = spec.task() == NetworkSpec.Task.CLASSIFICATION;
        StructType out = classifier ? MoESupport.addOutput(in, "probabilityCol", probabilityCol, new VectorUDT()) : in;
        out = MoESupport.addOutput(out, "predictionCol", predictionCol, DataTypes.DoubleType);
        SparkSession spark = ds.sparkSession();
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<Parameters> sb = sc.broadcast(shared);
        NetworkSpec sp = spec;
        int fi = in.fieldIndex(featuresCol);
        int dim = spec.inputDim();
        int d = spec.modelDim();
        int block = MoESupport.BLOCK;
        String fc = featuresCol;
        JavaRDD<Row> rows = ds.toDF().toJavaRDD();

        // (1) projection and gating next to the data
        JavaPairRDD<Integer, double[]> routed = rows.mapPartitionsWithIndex((pi, it) -> {
            MoENetwork net = sp.build();
            Parameters sh = sb.value();
            Precision prec = sh.precision();
            Gating gating = net.moe().gating();
            GatingState state = gating.newState(prec);
            List<Tuple2<Integer, double[]>> emitted = new ArrayList<>();
            long pos = 0;
            List<Row> buf = new ArrayList<>(block);
            while (it.hasNext()) {
                buf.clear();
                while (buf.size() < block && it.hasNext()) buf.add(it.next());
                int m = buf.size();
                Matrix f = prec.zeros(m, dim);
                for (int r = 0; r < m; r++) fill(f, r, buf.get(r), fi, fc, dim);
                Matrix x = prec.zeros(m, d);
                net.input().forward(sh, Batch.ofFeatures(m, new long[m], f, (int[]) null), x);
                gating.forward(sh, x, new long[m], GateNoise.none(), state, new double[gating.statsSize()]);
                for (int r = 0; r < m; r++) {
                    long key = ((long) pi << 32) | (pos + r);
                    for (int s = 0; s < state.slots(); s++) {
                        int e = state.expert()[r * state.slots() + s];
                        if (e < 0) continue;
                        double[] v = new double[d + 2];
                        v[0] = Double.longBitsToDouble(key);
                        v[1] = state.gate()[r * state.slots() + s];
                        for (int j = 0; j < d; j++) v[j + 2] = x.get(r, j);
                        emitted.add(new Tuple2<>(e, v));
                    }
                }
                pos += m;
            }
            return emitted.iterator();
        }, true).mapToPair(t -> t);

        // (2) each expert on the rows routed to it, where the expert lives
        int h = spec.expertHidden();
        JavaPairRDD<Long, double[]> contributions = experts.zipPartitions(routed.partitionBy(expertPartitioner), (ei, ri) -> {
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
                Parameters p = local.get(en.getKey());
                if (p == null) throw new IllegalStateException("expert " + en.getKey() + " is not in its partition");
                Precision prec = p.precision();
                ExpertWorkspace ws = new ExpertWorkspace(prec, h);
                List<double[]> items = en.getValue();
                for (int from = 0; from < items.size(); from += block) {
                    int m = Math.min(block, items.size() - from);
                    Matrix x = prec.zeros(m, d);
                    for (int r = 0; r < m; r++) for (int j = 0; j < d; j++) x.set(r, j, items.get(from + r)[j + 2]);
                    Matrix o = prec.zeros(m, d);
                    expert.forward(p, x, ws, o);
                    for (int r = 0; r < m; r++) {
                        double[] it = items.get(from + r);
                        double[] y = new double[d];
                        for (int j = 0; j < d; j++) y[j] = it[1] * o.get(r, j);
                        res.add(new Tuple2<>(Double.doubleToRawLongBits(it[0]), y));
                    }
                }
            }
            return res.iterator();
        }).mapToPair(t -> t);

        // (3) the MoE output of each row, in partitions aligned with the input's
        JavaPairRDD<Long, double[]> ys = contributions.reduceByKey(new RowPartitioner(rows.getNumPartitions()), (a, b) -> {
            double[] s = a.clone();
            for (int j = 0; j < s.length; j++) s[j] += b[j];
            return s;
        });

        // (4) the head, next to the data
        boolean residual = spec.residual();
        boolean prob = classifier && !probabilityCol.isEmpty();
        boolean pred = !predictionCol.isEmpty();
        JavaRDD<Row> scored = rows.zipPartitions(ys, (ri, yi) -> {
            Map<Long, double[]> y = new HashMap<>();
            while (yi.hasNext()) {
                Tuple2<Long, double[]> t = yi.next();
                y.put(t._1() & 0xFFFFFFFFL, t._2());
            }
            MoENetwork net = sp.build();
            Parameters sh = sb.value();
            Precision prec = sh.precision();
            List<Row> res = new ArrayList<>();
            List<Row> buf = new ArrayList<>(block);
            long pos = 0;
            while (ri.hasNext()) {
                buf.clear();
                while (buf.size() < block && ri.hasNext()) buf.add(ri.next());
                int m = buf.size();
                Matrix ym = prec.zeros(m, d);
                if (residual) {
                    Matrix f = prec.zeros(m, dim);
                    for (int r = 0; r < m; r++) fill(f, r, buf.get(r), fi, fc, dim);
                    net.input().forward(sh, Batch.ofFeatures(m, new long[m], f, (int[]) null), ym);
                }
                for (int r = 0; r < m; r++) {
                    double[] v = y.get(pos + r);
                    if (v != null) for (int j = 0; j < d; j++) ym.set(r, j, ym.get(r, j) + v[j]);
                }
                Matrix o = prec.zeros(m, sp.outputs());
                net.head().predict(sh, ym, o);
                for (int r = 0; r < m; r++) {
                    Row row = buf.get(r);
                    List<Object> vals = new ArrayList<>(row.size() + 2);
                    for (int c = 0; c < row.size(); c++) vals.add(row.get(c));
                    if (classifier) {
                        double[] pr = new double[o.cols()];
                        int arg = 0;
                        for (int c = 0; c < pr.length; c++) {
                            pr[c] = o.get(r, c);
                            if (pr[c] > pr[arg]) arg = c;
                        }
                        if (prob) vals.add(new DenseVector(pr));
                        if (pred) vals.add((double) arg);
                    } else if (pred) {
                        vals.add(o.get(r, 0));
                    }
                    res.add(RowFactory.create(vals.toArray()));
                }
                pos += m;
            }
            return res.iterator();
        });
        return spark.createDataFrame(scored, out);
    }

    private static void fill(Matrix f, int r, Row row, int fi, String fc, int dim) {
        if (row.isNullAt(fi)) throw new IllegalArgumentException("column '" + fc + "' is null");
        Vector v = (Vector) row.get(fi);
        if (v.size() != dim) throw new IllegalArgumentException("column '" + fc + "' has " + v.size() + " features, the model expects " + dim);
        v.foreachActive((i, val) -> {
            f.set(r, (Integer) i, (Double) val);
            return scala.runtime.BoxedUnit.UNIT;
        });
    }
}
