package org.sparkmoe.app;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The ML models' saved layout of a network (written by {@code org.sparkmoe.ml}'s persistence):
 * {@code spec/} (JSON lines {@code key, value}: the {@link NetworkSpec} map, {@code precision} and
 * {@code formatVersion}) and {@code parameters/} (parquet: one row per tensor, columns
 * {@code group} ("shared" or "expert"), {@code expert} (-1 for shared), {@code tensor},
 * {@code rows}, {@code cols}, {@code values} array&lt;double&gt;, row-major), so expert weights form a
 * table that executors can write and read. Here: the schemas, the spec, the row checks, and reading
 * a whole model onto the driver (the job reads ML saves this way).
 */
public final class ParameterTable {
    /** The version written into {@code spec/} ({@code formatVersion}); a save without one is version 1. */
    public static final int FORMAT_VERSION = 1;
    public static final String SPEC = "spec";
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

    private ParameterTable() {
    }

    /** Whether {@code dir} holds a network in this layout. */
    public static boolean isSaved(Path dir, org.apache.hadoop.conf.Configuration conf) throws java.io.IOException {
        org.apache.hadoop.fs.FileSystem fs = dir.getFileSystem(conf);
        return fs.exists(new Path(dir, SPEC)) && fs.exists(new Path(dir, PARAMETERS));
    }

    /** The spec and precision of a saved network; a format version newer than this one reads is an error. */
    public record SavedSpec(NetworkSpec spec, Precision precision) {
    }

    public static SavedSpec readSpec(String path, SparkSession spark) {
        Map<String, String> m = new HashMap<>();
        for (Row r : spark.read().schema(SPEC_SCHEMA).json(new Path(path, SPEC).toString()).collectAsList()) {
            m.put(r.getString(0), r.getString(1));
        }
        int version = Integer.parseInt(m.getOrDefault("formatVersion", "1"));
        if (version > FORMAT_VERSION) {
            throw new IllegalStateException(path + " was saved in model format version " + version + "; this version reads up to "
                    + FORMAT_VERSION + " (use a newer spark-moe)");
        }
        return new SavedSpec(NetworkSpec.fromMap(m), Precision.valueOf(m.getOrDefault("precision", "F32")));
    }

    /** The whole network on the driver, expert rows streamed a partition at a time. */
    public static ModelParameters readLocal(String path, SparkSession spark) {
        SavedSpec s = readSpec(path, spark);
        MoENetwork net = s.spec().build();
        int n = net.numExperts();
        ParameterLayout expertLayout = net.moe().expert().layout();
        Dataset<Row> table = spark.read().parquet(new Path(path, PARAMETERS).toString());
        Check check = new Check(path, n, net.sharedLayout(), expertLayout);
        Parameters shared = readShared(table, check, s.precision());
        Parameters[] experts = new Parameters[n];
        for (int e = 0; e < n; e++) experts[e] = expertLayout.allocate(s.precision());
        int[] seen = new int[n];
        Iterator<Row> it = table.where(functions.col("expert").geq(0)).toLocalIterator();
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

    /** Checks rows of a saved parameter table against the model's layouts; errors name the path, expert and tensor. */
    public record Check(String path, int experts, ParameterLayout sharedLayout, ParameterLayout expertLayout) implements Serializable {
        public int expert(Row r) {
            int e = r.getInt(r.fieldIndex("expert"));
            if (e < -1 || e >= experts) throw new IllegalStateException(path + ": parameter table names expert " + e + " of " + experts);
            return e;
        }

        public void copy(Row r, Parameters target) {
            int expert = r.getInt(r.fieldIndex("expert"));
            String tensor = r.getString(r.fieldIndex("tensor"));
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
            for (int i = 0, rr = 0; rr < rows; rr++) for (int c = 0; c < cols; c++) m.set(rr, c, v.get(i++));
        }

        public void complete(ParameterLayout layout, long seen, String what) {
            if (seen != layout.entries().size()) {
                throw new IllegalStateException(path + ": parameter table holds " + seen + " of " + layout.entries().size() + " " + what);
            }
        }
    }
}
