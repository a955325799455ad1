package org.sparkmoe.app;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.engine.checkpoint.CorruptCheckpointException;

/**
 * A model's tensors as a parquet table, the {@code parameters/} (and {@code optimiser/}) of a saved
 * model ({@link ModelDirectory}): one row per tensor, columns {@code group} ("shared" or "expert"),
 * {@code expert} (-1 for shared), {@code tensor}, {@code rows}, {@code cols}, {@code values}
 * array&lt;double&gt;, row-major. Expert weights form a table that the executors holding them write
 * and read (an ML model with distributed experts), or the driver writes a chunk at a time. In the
 * optimiser table a tensor is named {@code slot/tensor} (Adam's {@code m/W1}).
 *
 * <p>The ML saves of format 1 kept the spec beside the table as {@code spec/} (JSON lines
 * {@code key, value}: the {@link NetworkSpec} map, {@code precision}, {@code formatVersion});
 * {@link #readV1Spec} still reads it.
 */
public final class ParameterTable {
    /** The last version of the {@code spec/} layout; a {@code spec/} naming a newer one is refused. */
    public static final int V1_FORMAT_VERSION = 1;
    public static final String V1_SPEC = "spec";
    public static final String PARAMETERS = "parameters";
    public static final StructType PARAMETER_SCHEMA = new StructType()
            .add("group", DataTypes.StringType, false)
            .add("expert", DataTypes.IntegerType, false)
            .add("tensor", DataTypes.StringType, false)
            .add("rows", DataTypes.IntegerType, false)
            .add("cols", DataTypes.IntegerType, false)
            .add("values", DataTypes.createArrayType(DataTypes.DoubleType, false), false);
    public static final StructType SPEC_SCHEMA = new StructType()
            .add("key", DataTypes.StringType, false).add("value", DataTypes.StringType, false);

    /**
     * Values per parquet write of experts held on the driver: they are converted to rows and appended
     * a chunk of about this many values at a time, so the driver never holds a second, boxed copy of
     * all the experts while saving.
     */
    public static long expertChunkValues = 4L << 20;

    private ParameterTable() {
    }

    // ------------------------------------------------------------------ writing

    /** Table rows of one parameter group; tensor names get {@code prefix} (empty for parameters). */
    public static List<Row> rows(String group, int expert, String prefix, Parameters p) {
        List<Row> rows = new ArrayList<>();
        for (ParameterLayout.Entry e : p.layout().entries()) {
            Matrix m = p.get(e.name());
            Double[] v = new Double[e.size()];
            for (int r = 0, i = 0; r < e.rows(); r++) for (int c = 0; c < e.cols(); c++) v[i++] = m.get(r, c);
            rows.add(RowFactory.create(group, expert, prefix + e.name(), e.rows(), e.cols(), v));
        }
        return rows;
    }

    /** Where the expert rows come from: the driver, or the executors holding the experts. */
    public interface Experts {
        /** Appends the experts' rows to the parquet table at {@code table}. */
        void append(String table, SparkSession spark);
    }

    /** Experts held on the driver, written a chunk of about {@link #expertChunkValues} values per parquet write. */
    public static Experts localExperts(Parameters[] experts) {
        return (table, spark) -> {
            List<Row> rows = new ArrayList<>();
            long values = 0;
            for (int e = 0; e < experts.length; e++) {
                rows.addAll(rows("expert", e, "", experts[e]));
                values += experts[e].layout().size();
                if (values >= expertChunkValues || e == experts.length - 1) {
                    append(rows, table, spark);
                    rows.clear();
                    values = 0;
                }
            }
        };
    }

    /** Experts held on the executors ((expert, parameters) pairs): each executor writes the rows of its own. */
    public static Experts distributedExperts(JavaPairRDD<Integer, Parameters> experts) {
        return (table, spark) -> spark.createDataFrame(experts.flatMap(t -> rows("expert", t._1(), "", t._2()).iterator()), PARAMETER_SCHEMA)
                .write().mode("append").parquet(table);
    }

    /** Writes the table at {@code table}: the shared tensors (one file), then the experts. */
    static void write(String table, Parameters shared, Experts experts, SparkSession spark) {
        spark.createDataFrame(rows("shared", -1, "", shared), PARAMETER_SCHEMA).coalesce(1).write().parquet(table);
        experts.append(table, spark);
    }

    /** Writes every slot of the optimiser states (shared, then expert by expert) as the table at {@code table}. */
    static void writeOptimiser(String table, OptimiserState shared, OptimiserState[] experts, SparkSession spark) {
        List<Row> rows = new ArrayList<>();
        for (OptimiserState.Slot s : shared.slots()) rows.addAll(rows("shared", -1, s.name() + "/", s.values()));
        spark.createDataFrame(rows, PARAMETER_SCHEMA).coalesce(1).write().parquet(table);
        rows.clear();
        long values = 0;
        for (int e = 0; e < experts.length; e++) {
            for (OptimiserState.Slot s : experts[e].slots()) {
                rows.addAll(rows("expert", e, s.name() + "/", s.values()));
                values += s.values().layout().size();
            }
            if (values >= expertChunkValues || e == experts.length - 1) {
                append(rows, table, spark);
                rows.clear();
                values = 0;
            }
        }
    }

    private static void append(List<Row> rows, String table, SparkSession spark) {
        spark.createDataFrame(rows, PARAMETER_SCHEMA).write().mode("append").parquet(table);
    }

    // ------------------------------------------------------------------ reading

    /** The spec and precision of a format-1 ML save ({@code spec/}); a newer formatVersion there is an error. */
    public record SavedSpec(NetworkSpec spec, Precision precision) {
    }

    /** Whether {@code dir} holds a format-1 ML save ({@code spec/} and {@code parameters/}). */
    public static boolean isV1Save(Path dir, org.apache.hadoop.conf.Configuration conf) throws java.io.IOException {
        org.apache.hadoop.fs.FileSystem fs = dir.getFileSystem(conf);
        return fs.exists(new Path(dir, V1_SPEC)) && fs.exists(new Path(dir, PARAMETERS));
    }

    public static SavedSpec readV1Spec(String path, SparkSession spark) {
        Map<String, String> m = new HashMap<>();
        for (Row r : spark.read().schema(SPEC_SCHEMA).json(new Path(path, V1_SPEC).toString()).collectAsList()) {
            m.put(r.getString(0), r.getString(1));
        }
        int version = Integer.parseInt(m.getOrDefault("formatVersion", "1"));
        if (version > V1_FORMAT_VERSION) {
            throw new IllegalStateException(path + " was saved in model format version " + version + "; this version reads up to "
                    + V1_FORMAT_VERSION + " in this layout (use a newer spark-moe)");
        }
        return new SavedSpec(NetworkSpec.fromMap(m), Precision.valueOf(m.getOrDefault("precision", "F32")));
    }

    /** The whole network of the table at {@code table} on the driver, expert rows streamed a partition at a time. */
    public static ModelParameters readLocal(String table, NetworkSpec spec, Precision precision, SparkSession spark) {
        return readLocal(table, Shape.of(spec), precision, spark);
    }

    /** The tensors a parameter table holds: the shared ones, each expert's, and how many experts. */
    public record Shape(ParameterLayout shared, ParameterLayout expert, int experts) {
        /** The shape of the feed-forward network of {@code spec}. */
        public static Shape of(NetworkSpec spec) {
            MoENetwork net = spec.build();
            return new Shape(net.sharedLayout(), net.moe().expert().layout(), net.numExperts());
        }
    }

    /** The whole model of shape {@code shape} from the table at {@code table} on the driver, expert rows streamed a partition at a time. */
    public static ModelParameters readLocal(String table, Shape shape, Precision precision, SparkSession spark) {
        int n = shape.experts();
        ParameterLayout expertLayout = shape.expert();
        Dataset<Row> rows = spark.read().parquet(table);
        Check check = new Check(table, n, shape.shared(), expertLayout);
        Parameters shared = readShared(rows, check, precision);
        Parameters[] experts = new Parameters[n];
        for (int e = 0; e < n; e++) experts[e] = expertLayout.allocate(precision);
        int[] seen = new int[n];
        Iterator<Row> it = rows.where(functions.col("expert").geq(0)).toLocalIterator();
        while (it.hasNext()) {
            Row r = it.next();
            int e = check.expert(r);
            check.copy(r, experts[e]);
            seen[e]++;
        }
        for (int e = 0; e < n; e++) check.complete(expertLayout, seen[e], "tensors of expert " + e);
        return new ModelParameters(shared, experts);
    }

    /** The shared tensors of a saved table, checked complete. */
    public static Parameters readShared(Dataset<Row> table, Check check, Precision precision) {
        Parameters shared = check.sharedLayout().allocate(precision);
        List<Row> rows = table.where(functions.col("expert").lt(0)).collectAsList();
        for (Row r : rows) check.copy(r, shared);
        check.complete(shared.layout(), rows.size(), "shared tensors");
        return shared;
    }

    /**
     * The optimiser states of the table at {@code table}, slots {@code slots} (in that order) of the
     * shared parameters and of each expert, on the driver.
     */
    static OptimiserState[] readOptimiser(String table, Shape shape, Precision precision, List<String> slots, SparkSession spark) {
        int n = shape.experts();
        Check check = new Check(table, n, shape.shared(), shape.expert());
        List<Map<String, Parameters>> groups = new ArrayList<>();
        for (int g = 0; g <= n; g++) {
            ParameterLayout layout = g == 0 ? shape.shared() : shape.expert();
            Map<String, Parameters> m = new HashMap<>();
            for (String s : slots) m.put(s, layout.allocate(precision));
            groups.add(m);
        }
        int[] seen = new int[n + 1];
        Iterator<Row> it = spark.read().parquet(table).toLocalIterator();
        while (it.hasNext()) {
            Row r = it.next();
            int g = check.expert(r) + 1;
            String name = r.getString(r.fieldIndex("tensor"));
            int slash = name.indexOf('/');
            Parameters target = slash < 0 ? null : groups.get(g).get(name.substring(0, slash));
            if (target == null) throw new IllegalStateException(table + ": '" + name + "' is not a tensor of optimiser slots " + slots);
            check.copy(r, name.substring(slash + 1), target);
            seen[g]++;
        }
        OptimiserState[] states = new OptimiserState[n + 1];
        for (int g = 0; g <= n; g++) {
            ParameterLayout layout = g == 0 ? shape.shared() : shape.expert();
            long want = (long) layout.entries().size() * slots.size();
            if (seen[g] != want) {
                throw new IllegalStateException(table + ": optimiser table holds " + seen[g] + " of " + want + " tensors of "
                        + (g == 0 ? "the shared parameters" : "expert " + (g - 1)));
            }
            List<OptimiserState.Slot> s = new ArrayList<>();
            for (String name : slots) s.add(new OptimiserState.Slot(name, groups.get(g).get(name)));
            states[g] = new OptimiserState(layout, s);
        }
        return states;
    }

    /** A read of a table. */
    interface Read<T> {
        T run() throws Exception;
    }

    private static final java.util.regex.Pattern PART = java.util.regex.Pattern.compile("\\S+\\.parquet");

    /**
     * Runs {@code read} of the table at {@code table}; a file that cannot be read (damaged, cut
     * short) or rows that do not fit the model become a {@link CorruptCheckpointException} naming
     * the file (as Spark's error names it) and the cause, in one line.
     */
    static <T> T reading(String table, Read<T> read) throws CorruptCheckpointException {
        try {
            return read.run();
        } catch (Exception e) {
            String file = null;
            for (Throwable c = e; c != null && file == null; c = c.getCause() == c ? null : c.getCause()) {
                java.util.regex.Matcher m = PART.matcher(String.valueOf(c.getMessage()));
                if (m.find()) file = m.group();
            }
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            String why = root.getClass().getSimpleName() + ": " + String.valueOf(root.getMessage()).lines().findFirst().orElse("");
            String message = e instanceof IllegalStateException && file == null ? e.getMessage()
                    : table + ": cannot read " + (file != null ? file : "the table") + " (" + why + ")";
            throw new CorruptCheckpointException(file != null ? file : table, message, e);
        }
    }

    /** Checks rows of a saved parameter table against the model's layouts; errors name the path, expert and tensor. */
    public record Check(String path, int experts, ParameterLayout sharedLayout, ParameterLayout expertLayout) implements Serializable {
        public int expert(Row r) {
            int e = r.getInt(r.fieldIndex("expert"));
            if (e < -1 || e >= experts) throw new IllegalStateException(path + ": parameter table names expert " + e + " of " + experts);
            return e;
        }

        public void copy(Row r, Parameters target) {
            copy(r, r.getString(r.fieldIndex("tensor")), target);
        }

        /** Copies row {@code r}'s values into tensor {@code tensor} of {@code target}. */
        public void copy(Row r, String tensor, Parameters target) {
            int expert = r.getInt(r.fieldIndex("expert"));
            String group = expert < 0 ? "shared" : "expert " + expert;
            if (!target.layout().contains(tensor)) {
                throw new IllegalStateException(path + ": unknown tensor '" + tensor + "' for " + group);
            }
            ParameterLayout.Entry entry = target.layout().entry(tensor);
            int rows = r.getInt(r.fieldIndex("rows"));
            int cols = r.getInt(r.fieldIndex("cols"));
            List<Double> v = r.getList(r.fieldIndex("values"));
            if (rows != entry.rows() || cols != entry.cols() || v.size() != entry.size()) {
                throw new IllegalStateException(path + ": tensor '" + tensor + "' of " + group + " is " + rows + "x" + cols + " ("
                        + v.size() + " values), the model needs " + entry.rows() + "x" + entry.cols());
            }
            Matrix m = target.get(tensor);
            for (int i = 0, rr = 0; rr < rows; rr++) {
                for (int c = 0; c < cols; c++) {
                    double x = v.get(i++);
                    // a model that holds NaN or infinity scores garbage without failing: refuse it at the file
                    if (!Double.isFinite(x)) {
                        throw new IllegalStateException(path + ": tensor '" + tensor + "' of " + group + " holds a non-finite value (" + x
                                + ") at row " + rr + ", column " + c);
                    }
                    m.set(rr, c, x);
                }
            }
        }

        public void complete(ParameterLayout layout, long seen, String what) {
            if (seen != layout.entries().size()) {
                throw new IllegalStateException(path + ": parameter table holds " + seen + " of " + layout.entries().size() + " " + what);
            }
        }
    }
}
