package org.sparkmoe.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.attribute.Attribute;
import org.apache.spark.ml.attribute.AttributeGroup;
import org.apache.spark.ml.attribute.NominalAttribute;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.sparkmoe.app.MoEConfig;
import org.sparkmoe.app.TrainingLoop;
import org.sparkmoe.app.Setting;
import org.sparkmoe.app.Settings;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.SparkMoETrainer;
import org.sparkmoe.engine.StepReport;

import scala.Tuple2;

/** What the MoE estimators and models share: validation, training on the Spark engine, batch scoring. */
final class MoESupport {
    /** Rows per {@link RowBlock} when converting a DataFrame, and rows per forward pass when scoring. */
    static final int BLOCK = 1024;
    /** Checkpoints kept in checkpointDir. */
    static final int KEEP_CHECKPOINTS = 2;

    private MoESupport() {
    }

    // ---------------------------------------------------------------- validation

    /**
     * The typed configuration of these params ({@link MoEConfig}: every param that is also a
     * setting of the job, as set or defaulted here), checked between params; messages name the params.
     */
    static MoEConfig config(Params p) {
        MoEConfig.Builder b = MoEConfig.builder().face(Setting.Face.ML);
        for (Param<?> param : p.params()) {
            Setting s = Settings.find(param.name());
            if (s != null && s.jobKey() != null && p.isDefined(param)) b.set(s, p.getOrDefault(param));
        }
        return b.build();
    }

    /** Cross-param checks that single-param validators cannot do; messages name the params. */
    static MoEConfig validateParams(MoEParams<?> p) {
        MoEConfig c = config(p);
        if (!p.getCheckpointDir().isEmpty() && p.getCheckpointInterval() < 1) {
            throw new IllegalArgumentException("param checkpointInterval must be >= 1 with a checkpointDir");
        }
        return c;
    }

    static void requireVectorColumn(StructType schema, String param, String col) {
        StructField f = field(schema, param, col);
        if (!(f.dataType() instanceof VectorUDT)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") must be of type Vector ("
                    + new VectorUDT().simpleString() + "), got " + f.dataType().simpleString());
        }
    }

    static void requireNumericColumn(StructType schema, String param, String col) {
        StructField f = field(schema, param, col);
        if (!(f.dataType() instanceof NumericType)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") must be numeric, got "
                    + f.dataType().simpleString());
        }
    }

    private static StructField field(StructType schema, String param, String col) {
        if (!Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") does not exist; available columns: "
                    + String.join(", ", schema.fieldNames()));
        }
        return schema.apply(col);
    }

    /** Appends an output column, refusing one that exists already. */
    static StructType addOutput(StructType schema, String param, String col, org.apache.spark.sql.types.DataType type) {
        if (col == null || col.isEmpty()) return schema;
        if (Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("output column '" + col + "' (param " + param + ") already exists");
        }
        return schema.add(col, type, false);
    }

    static final StructType EXPERT_GATE = new StructType()
            .add("expert", DataTypes.IntegerType, false).add("gate", DataTypes.DoubleType, false);

    /** The output schema of a model's transform (input columns then the outputs that are switched on). */
    static StructType outputSchema(StructType schema, MoEParams<?> p, boolean classifier) {
        validateParams(p);
        requireVectorColumn(schema, "featuresCol", p.getFeaturesCol());
        StructType out = schema;
        if (classifier) {
            MoEClassifierParams<?> c = (MoEClassifierParams<?>) p;
            out = addOutput(out, "rawPredictionCol", c.getRawPredictionCol(), new VectorUDT());
            out = addOutput(out, "probabilityCol", c.getProbabilityCol(), new VectorUDT());
        }
        out = addOutput(out, "predictionCol", p.getPredictionCol(), DataTypes.DoubleType);
        out = addOutput(out, "expertsCol", p.getExpertsCol(), DataTypes.createArrayType(EXPERT_GATE, false));
        return out;
    }

    /** The estimator's schema check: the model's plus a numeric label. */
    static StructType fitSchema(StructType schema, MoEParams<?> p, boolean classifier) {
        requireNumericColumn(schema, "labelCol", p.getLabelCol());
        return outputSchema(schema, p, classifier);
    }

    // ---------------------------------------------------------------- training

    /** Warm-start parameters (experts on the driver or distributed; none when {@code shared} is null) and where they came from. */
    record WarmStart(Parameters shared, ExpertTable experts, String where) {
        static final WarmStart NONE = new WarmStart(null, null, null);

        static WarmStart of(MoEPersistence.Weights model, String where) {
            return new WarmStart(model.sharedParameters(), model.experts(), where);
        }
    }

    /** The trained network: shared tensors on the driver, experts local or distributed. */
    record Trained(NetworkSpec spec, Parameters shared, ExpertTable experts, List<StepReport> reports) {
    }

    static NetworkSpec spec(MoEParams<?> p, NetworkSpec.Task task, int inputDim, int outputs) {
        return validateParams(p).networkSpec(task, inputDim, outputs);
    }

    static EngineConfig engineConfig(MoEParams<?> p) {
        return validateParams(p).engineConfig();
    }

    /** The feature count: from the column's ML attributes when present, else from the first row's vector. */
    static int featureDim(Dataset<?> ds, String col) {
        AttributeGroup g = AttributeGroup.fromStructField(ds.schema().apply(col));
        if (g.size() > 0) return g.size();
        List<Row> first = ds.select(col).where(functions.col(col).isNotNull()).limit(1).collectAsList();
        if (first.isEmpty()) throw new IllegalArgumentException("cannot fit on an empty dataset (column '" + col + "' has no values)");
        return ((Vector) first.get(0).get(0)).size();
    }

    /** Classes: from the label column's nominal attribute when present, else 1 + the largest label (at least 2). */
    static int numClasses(Dataset<?> ds, String col) {
        Attribute a = Attribute.fromStructField(ds.schema().apply(col));
        if (a instanceof NominalAttribute n && n.getNumValues().isDefined()) {
            return Math.max(2, (Integer) n.getNumValues().get());
        }
        Row r = ds.agg(functions.max(functions.col(col).cast("double"))).head();
        if (r.isNullAt(0)) throw new IllegalArgumentException("cannot fit on an empty dataset (column '" + col + "' has no values)");
        double max = r.getDouble(0);
        if (max < 0 || max != Math.rint(max) || max > Integer.MAX_VALUE - 1) {
            throw new IllegalArgumentException("column '" + col + "' (param labelCol) must hold class indices 0, 1, ..., got " + max);
        }
        return Math.max(2, (int) max + 1);
    }

    /**
     * The features and labels as row blocks, built on the executors (nothing is collected). Example ids
     * are the rows' positions from {@code zipWithIndex} over the input's partitions, so they (and with them
     * batch order and gating noise) are deterministic for a deterministic input ordering.
     */
    static JavaRDD<RowBlock> blocks(Dataset<?> ds, String featuresCol, String labelCol, int dim, int classes) {
        JavaRDD<Row> rows = ds.select(functions.col(featuresCol), functions.col(labelCol).cast("double")).toJavaRDD();
        return rows.zipWithIndex().mapPartitions(it -> new BlockIterator(it, dim, classes, featuresCol, labelCol), true);
    }

    /** Groups rows into blocks of up to {@link #BLOCK}; classes 0 means regression. */
    private static final class BlockIterator implements Iterator<RowBlock> {
        private final Iterator<Tuple2<Row, Long>> in;
        private final int dim;
        private final int classes;
        private final String featuresCol;
        private final String labelCol;

        BlockIterator(Iterator<Tuple2<Row, Long>> in, int dim, int classes, String featuresCol, String labelCol) {
            this.in = in;
            this.dim = dim;
            this.classes = classes;
            this.featuresCol = featuresCol;
            this.labelCol = labelCol;
        }

        @Override
        public boolean hasNext() {
            return in.hasNext();
        }

        @Override
        public RowBlock next() {
            if (!in.hasNext()) throw new NoSuchElementException();
            long[] ids = new long[BLOCK];
            float[] f = new float[BLOCK * dim];
            int[] labels = classes > 0 ? new int[BLOCK] : null;
            float[] targets = classes > 0 ? null : new float[BLOCK];
            int n = 0;
            while (n < BLOCK && in.hasNext()) {
                Tuple2<Row, Long> t = in.next();
                Row r = t._1();
                if (r.isNullAt(0)) throw new IllegalArgumentException("row " + t._2() + ": column '" + featuresCol + "' is null");
                if (r.isNullAt(1)) throw new IllegalArgumentException("row " + t._2() + ": column '" + labelCol + "' is null");
                Vector v = (Vector) r.get(0);
                if (v.size() != dim) {
                    throw new IllegalArgumentException("row " + t._2() + ": column '" + featuresCol + "' has " + v.size()
                            + " features, expected " + dim);
                }
                int o = n * dim;
                v.foreachActive((i, x) -> {
                    f[o + (Integer) i] = (float) (double) (Double) x;
                    return scala.runtime.BoxedUnit.UNIT;
                });
                double y = r.getDouble(1);
                if (classes > 0) {
                    if (y < 0 || y >= classes || y != Math.rint(y)) {
                        throw new IllegalArgumentException("row " + t._2() + ": column '" + labelCol + "' must be a class index in [0, "
                                + classes + "), got " + y);
                    }
                    labels[n] = (int) y;
                } else {
                    if (!Double.isFinite(y)) throw new IllegalArgumentException("row " + t._2() + ": column '" + labelCol + "' is " + y);
                    targets[n] = (float) y;
                }
                ids[n++] = t._2();
            }
            if (n < BLOCK) {
                ids = Arrays.copyOf(ids, n);
                float[] ff = Arrays.copyOf(f, n * dim);
                return classes > 0 ? RowBlock.ofFeatures(ids, dim, ff, Arrays.copyOf(labels, n))
                        : RowBlock.ofFeatures(ids, dim, ff, 1, Arrays.copyOf(targets, n));
            }
            return classes > 0 ? RowBlock.ofFeatures(ids, dim, f, labels) : RowBlock.ofFeatures(ids, dim, f, 1, targets);
        }
    }

    /**
     * Trains on the Spark engine: resumes from the latest checkpoint of checkpointDir when there is one,
     * else starts from the warm-start model (its parameters, fresh optimiser state; distributed experts
     * stay on the executors with sharded placement) or a fresh initialisation; checkpoints every
     * checkpointInterval steps and at the end (with checkpointDir). With sharded placement the
     * trained experts stay where they are, as a distributed {@link ExpertTable}; with driver
     * placement they are a local one.
     */
    static Trained train(Dataset<?> ds, MoEParams<?> p, NetworkSpec spec, JavaRDD<RowBlock> data, WarmStart warm) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        MoENetwork net = spec.build();
        EngineConfig config = engineConfig(p);
        data = data.persist(StorageLevel.MEMORY_AND_DISK());
        String dir = p.getCheckpointDir();
        SparkMoETrainer trainer = null;
        try {
            TrainingLoop.WarmStart start = null;
            if (warm.shared() != null) {
                checkWarmStart(net, warm);
                start = warm.experts().isDistributed()
                        ? TrainingLoop.WarmStart.distributed(warm.shared(), warm.experts().pairs(sc, config.expertShards()))
                        : TrainingLoop.WarmStart.of(warmStart(config, new ModelParameters(warm.shared(), warm.experts().toArray())));
            }
            TrainingLoop.Options options = new TrainingLoop.Options(p.getMaxSteps(), dir.isEmpty() ? null : dir,
                    p.getCheckpointInterval(), KEEP_CHECKPOINTS, null, Map.of("estimator", p.uid()));
            TrainingLoop.Result run = TrainingLoop.run(sc, net, config, data, options, start, List.of());
            trainer = run.trainer();
            if (config.placement() == ExpertPlacement.SHARDED) {
                // materialised and lineage-truncated before close() drops the training state it derives from
                ExpertTable experts = ExpertTable.distributed(trainer.expertParameters(), trainer.expertPartitioner());
                return new Trained(spec, trainer.sharedParameters().copy(), experts, run.reports());
            }
            ModelParameters params = trainer.snapshot().params();
            return new Trained(spec, params.shared(), ExpertTable.local(params.experts()), run.reports());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("training checkpoints in " + dir + ": " + e.getMessage(), e);
        } finally {
            if (trainer != null) trainer.close();
            data.unpersist(false);
        }
    }

    private static void checkWarmStart(MoENetwork net, WarmStart warm) {
        ExpertTable experts = warm.experts();
        ParameterLayout expertLayout = experts instanceof ExpertTable.Distributed d ? d.rdd().first()._2().layout() : experts.toArray()[0].layout();
        if (!warm.shared().layout().equals(net.sharedLayout()) || experts.numExperts() != net.numExperts()
                || !expertLayout.equals(net.moe().expert().layout())) {
            throw new IllegalArgumentException("param initialModelPath: the model at " + warm.where() + " (" + experts.numExperts()
                    + " experts, shared " + warm.shared().layout() + ", expert " + expertLayout + ") does not have the shape these params and data give ("
                    + net.numExperts() + " experts, shared " + net.sharedLayout() + ", expert " + net.moe().expert().layout() + ")");
        }
    }

    private static TrainingState warmStart(EngineConfig config, ModelParameters initial) {
        Precision prec = config.trainer().precision();
        ModelParameters start = initial.to(prec);
        OptimiserState[] states = new OptimiserState[start.experts().length];
        for (int e = 0; e < states.length; e++) states[e] = config.trainer().optimiser().newState(start.experts()[e]);
        return new TrainingState(start, config.trainer().optimiser().newState(start.shared()), states, 0);
    }

    // ---------------------------------------------------------------- scoring

    /** Which output columns a feature model's transform adds (the non-empty column params), and how. */
    record Outputs(boolean classifier, boolean raw, boolean prob, boolean pred, boolean experts) implements java.io.Serializable {
        static Outputs of(MoEParams<?> p, boolean classifier) {
            MoEClassifierParams<?> c = classifier ? (MoEClassifierParams<?>) p : null;
            return new Outputs(classifier, classifier && !c.getRawPredictionCol().isEmpty(), classifier && !c.getProbabilityCol().isEmpty(),
                    !p.getPredictionCol().isEmpty(), !p.getExpertsCol().isEmpty());
        }

        /**
         * Appends row r's outputs, in {@link #outputSchema} order, from the head's output {@code o}
         * and the chosen experts and gates of slots [base, base + slots) (slots with expert -1 are unused).
         */
        void append(List<Object> vals, Matrix o, int r, int[] expert, double[] gate, int base, int slots) {
            if (classifier) {
                double[] pr = new double[o.cols()];
                int arg = 0;
                for (int c = 0; c < pr.length; c++) {
                    pr[c] = o.get(r, c);
                    if (pr[c] > pr[arg]) arg = c;
                }
                if (raw) {
                    double[] lp = new double[pr.length];
                    for (int c = 0; c < lp.length; c++) lp[c] = Math.log(Math.max(pr[c], Double.MIN_NORMAL));
                    vals.add(new DenseVector(lp));
                }
                if (prob) vals.add(new DenseVector(pr));
                if (pred) vals.add((double) arg);
            } else if (pred) {
                vals.add(o.get(r, 0));
            }
            if (experts) {
                List<Row> eg = new ArrayList<>();
                for (int s = base; s < base + slots; s++) {
                    if (expert[s] >= 0) eg.add(RowFactory.create(expert[s], gate[s]));
                }
                vals.add(eg.toArray());
            }
        }
    }

    /** Copies row r's features (a Vector of {@code dim} values in column {@code fi}) into row r of {@code x}. */
    static void features(Row row, int fi, String featuresCol, int dim, Matrix x, int r) {
        if (row.isNullAt(fi)) throw new IllegalArgumentException("column '" + featuresCol + "' is null");
        Vector v = (Vector) row.get(fi);
        if (v.size() != dim) {
            throw new IllegalArgumentException("column '" + featuresCol + "' has " + v.size() + " features, the model expects " + dim);
        }
        v.foreachActive((i, val) -> {
            x.set(r, (Integer) i, (Double) val);
            return scala.runtime.BoxedUnit.UNIT;
        });
    }

    /** The features of {@code rows} as an m x dim matrix. */
    static Matrix features(List<Row> rows, int fi, String featuresCol, int dim, Precision prec) {
        Matrix x = prec.zeros(rows.size(), dim);
        for (int r = 0; r < rows.size(); r++) features(rows.get(r), fi, featuresCol, dim, x, r);
        return x;
    }

    /** Reads up to {@link #BLOCK} rows of {@code in} into {@code buffer} (cleared first). */
    static List<Row> nextBlock(Iterator<Row> in, List<Row> buffer) {
        buffer.clear();
        while (buffer.size() < BLOCK && in.hasNext()) buffer.add(in.next());
        return buffer;
    }

    /** Classification and regression: a Vector column in, the switched-on output columns out. */
    static final class FeatureCodec implements ScoringCodec {
        private static final long serialVersionUID = 1L;
        private final int fi;
        private final String featuresCol;
        private final int dim;
        private final int width;
        private final Outputs outputs;

        FeatureCodec(StructType in, MoEParams<?> p, boolean classifier, int dim) {
            this.fi = in.fieldIndex(p.getFeaturesCol());
            this.featuresCol = p.getFeaturesCol();
            this.dim = dim;
            this.width = in.size();
            this.outputs = Outputs.of(p, classifier);
        }

        @Override
        public void read(Iterator<Row> in, List<Row> block) {
            nextBlock(in, block);
        }

        @Override
        public Batch encode(List<Row> block, Precision precision) {
            int m = block.size();
            return Batch.ofFeatures(m, new long[m], features(block, fi, featuresCol, dim, precision), (int[]) null);
        }

        @Override
        public ScoringCodec.Decoder decoder(List<Row> block, Batch batch) {
            int m = batch.size();
            return new ScoringCodec.Decoder() {
                Matrix o;
                int[] experts;
                double[] gates;
                int slots;

                @Override
                public void take(int from, Matrix chunk, GatingState g, int gateFrom) {
                    if (o == null) {
                        o = chunk.precision().zeros(m, chunk.cols());
                        slots = g.slots();
                        experts = new int[m * slots];
                        gates = new double[m * slots];
                    }
                    o.slice(from * o.cols(), chunk.rows(), o.cols()).copyFrom(chunk);
                    System.arraycopy(g.expert(), gateFrom * slots, experts, from * slots, chunk.rows() * slots);
                    System.arraycopy(g.gate(), gateFrom * slots, gates, from * slots, chunk.rows() * slots);
                }

                @Override
                public void finish(List<Row> out) {
                    for (int r = 0; r < m; r++) {
                        Row row = block.get(r);
                        List<Object> vals = new ArrayList<>(width + 4);
                        for (int c = 0; c < width; c++) vals.add(row.get(c));
                        outputs.append(vals, o, r, experts, gates, r * slots, slots);
                        out.add(RowFactory.create(vals.toArray()));
                    }
                }
            };
        }
    }

    /**
     * Scores with broadcast parameters and a pass over each partition: the codec's blocks run through
     * {@link MoENetwork#predict} (no gating noise) {@link #BLOCK} examples at a time.
     */
    static Dataset<Row> transform(Dataset<?> ds, StructType out, NetworkSpec spec, ModelParameters params, ScoringCodec codec) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        MapPartitionsFunction<Row, Row> f = it -> new BlockScoringIterator(it) {
            private final List<Row> block = new ArrayList<>();

            @Override
            void fill(Iterator<Row> input, List<Row> ready) {
                codec.read(input, block);
                ModelParameters mp = pb.value();
                Precision prec = mp.shared().precision();
                MoENetwork net = network(spec, prec);
                MoENetwork.Workspace ws = workspace();
                Batch batch = codec.encode(block, prec);
                ScoringCodec.Decoder decoder = codec.decoder(block, batch);
                for (int from = 0; from < batch.size(); from += BLOCK) {
                    int n = Math.min(BLOCK, batch.size() - from);
                    Matrix o = prec.zeros(n, spec.outputs());
                    net.predict(mp, batch.slice(from, n), ws, o);
                    decoder.take(from, o, ws.moe().gate(), 0);
                }
                decoder.finish(ready);
            }
        };
        return ds.toDF().mapPartitions(f, Encoders.row(out));
    }

}
