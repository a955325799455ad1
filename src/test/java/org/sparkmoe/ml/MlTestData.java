package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.engine.SparkTestContext;

/** Small synthetic DataFrames whose rule differs by regime (what experts can split). */
final class MlTestData {
    private MlTestData() {
    }

    static SparkSession spark() {
        return SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
    }

    static final StructType SCHEMA = new StructType()
            .add("features", new VectorUDT(), false)
            .add("label", DataTypes.DoubleType, false)
            .add("x0", DataTypes.DoubleType, false)
            .add("x1", DataTypes.DoubleType, false)
            .add("x2", DataTypes.DoubleType, false)
            .add("x3", DataTypes.DoubleType, false)
            .add("name", DataTypes.StringType, false);

    /**
     * Four features; class: if x0 > 0 then (x1 > 0 ? 1 : 0) else (x2 > 0 ? 2 : 0); regression label:
     * x0 > 0 ? 2 x1 : -3 x2. Column "name" is the class as a string ("a", "b", "c").
     */
    static Dataset<Row> frame(int n, long seed, boolean classification, int partitions) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Row> rows = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            double[] x = new double[4];
            for (int j = 0; j < 4; j++) x[j] = rnd.nextDouble(-1, 1);
            int c = x[0] > 0 ? (x[1] > 0 ? 1 : 0) : (x[2] > 0 ? 2 : 0);
            double y = classification ? c : (x[0] > 0 ? 2 * x[1] : -3 * x[2]);
            rows.add(RowFactory.create(Vectors.dense(x), y, x[0], x[1], x[2], x[3], new String[] {"a", "b", "c"}[c]));
        }
        return spark().createDataFrame(rows, SCHEMA).repartition(partitions);
    }
}
