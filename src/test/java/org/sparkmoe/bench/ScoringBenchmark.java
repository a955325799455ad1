package org.sparkmoe.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
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
import org.sparkmoe.ml.MoEClassificationModel;
import org.sparkmoe.ml.MoEClassifier;

/**
 * Scoring throughput of a classification model with its experts on the driver (broadcast, one
 * pass per partition) against the same model with its experts distributed over the executors
 * (gate, shuffle to the experts, shuffle back, head). Untrained models (maxSteps 0): scoring cost
 * does not depend on the weights. Prints a Markdown table; the median of {@code reps} timed runs
 * after {@code warmup} untimed ones (per model and path), each run writing the scored rows to
 * Spark's {@code noop} sink.
 *
 * <p>Arguments (key=value, all optional): rows=200000, experts=8,64, d=64, h=256, k=2, dim=32,
 * classes=10, partitions=4, shards=2, reps=5, warmup=2.
 */
public final class ScoringBenchmark {

    public static void main(String[] args) {
        BenchArgs a = new BenchArgs(args);
        int rows = a.integer("rows", 200000);
        int[] experts = a.integers("experts", "8,64");
        int d = a.integer("d", 64);
        int h = a.integer("h", 256);
        int k = a.integer("k", 2);
        int dim = a.integer("dim", 32);
        int classes = a.integer("classes", 10);
        int partitions = a.integer("partitions", 4);
        int shards = a.integer("shards", 2);
        int reps = a.integer("reps", 5);
        int warmup = a.integer("warmup", 2);

        SparkSession spark = SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        StructType schema = new StructType().add("features", new VectorUDT(), false).add("label", DataTypes.DoubleType, false);
        SplittableRandom rnd = new SplittableRandom(7);
        List<Row> data = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            double[] x = new double[dim];
            for (int j = 0; j < dim; j++) x[j] = rnd.nextGaussian();
            data.add(RowFactory.create(Vectors.dense(x), (double) (i % classes)));
        }
        Dataset<Row> df = spark.createDataFrame(data, schema).repartition(partitions).cache();
        df.count();
        System.out.printf(Locale.ROOT, "%d rows, %d partitions, %d features, %d classes, d=%d, h=%d, k=%d, expert shards %d, local[2]%n%n",
                rows, partitions, dim, classes, d, h, k, shards);
        System.out.println("| experts | expert parameters | local: s | local: rows/s | distributed: s | distributed: rows/s | distributed / local |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (int n : experts) {
            MoEClassificationModel dist = new MoEClassifier().setNumExperts(n).setK(k).setModelDim(d).setExpertHiddenSize(h)
                    .setPlacement("sharded").setExpertShards(shards).setMaxSteps(0).fit(df);
            MoEClassificationModel local = dist.toLocal();
            double tl = time(local, df, warmup, reps);
            double td = time(dist, df, warmup, reps);
            long params = (long) n * (2L * d * h + h + d);
            System.out.printf(Locale.ROOT, "| %d | %,d | %.2f | %,.0f | %.2f | %,.0f | %.2fx |%n", n, params, tl, rows / tl, td, rows / td, td / tl);
            dist.unpersist();
        }
        SparkTestContext.get().stop();
    }

    private static double time(MoEClassificationModel model, Dataset<Row> df, int warmup, int reps) {
        double[] t = new double[reps];
        for (int r = -warmup; r < reps; r++) {
            long start = System.nanoTime();
            model.transform(df).write().format("noop").mode("overwrite").save();
            if (r >= 0) t[r] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(t);
        return t[reps / 2];
    }
}
