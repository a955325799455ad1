package org.sparkmoe.engine.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.SparkTestContext;

/**
 * The shipped defaults require Kryo registration; everyday Spark SQL work next to training
 * (parquet and CSV with schema inference, vectors, collect) must still run under them.
 */
class SparkSqlRegistrationTest {

    @Test
    void everyListedClassExists() throws Exception {
        try (java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(
                MoEKryoRegistrator.class.getResourceAsStream(MoEKryoRegistrator.SPARK_SQL_CLASSES),
                java.nio.charset.StandardCharsets.UTF_8))) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                line = line.trim();
                if (line.isEmpty() || line.startsWith("#")) continue;
                Class.forName(line.replace("[]", ""));  // a typo would silently register nothing
                n++;
            }
            org.junit.jupiter.api.Assertions.assertTrue(n >= 3, "only " + n + " classes listed");
        }
    }

    @Test
    void parquetAndCsvRoundTripsWorkWithRegistrationRequired(@TempDir Path tmp) {
        SparkSession spark = SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
        StructType schema = new StructType(new StructField[]{
            new StructField("id", DataTypes.LongType, false, Metadata.empty()),
            new StructField("label", DataTypes.DoubleType, false, Metadata.empty()),
            new StructField("name", DataTypes.StringType, true, Metadata.empty()),
            new StructField("features", new VectorUDT(), false, Metadata.empty()),
        });
        List<Row> rows = Arrays.asList(
                RowFactory.create(1L, 0.0, "a", Vectors.dense(1, 2, 3)),
                RowFactory.create(2L, 1.0, "b", Vectors.sparse(3, new int[]{1}, new double[]{5})),
                RowFactory.create(3L, 1.0, null, Vectors.dense(0, 0, 1)));
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(2);
        String parquet = tmp.resolve("t.parquet").toString();
        df.write().parquet(parquet);
        Dataset<Row> back = spark.read().parquet(parquet);
        assertEquals(3, back.count());
        assertEquals(3, back.collectAsList().size());
        assertEquals(2.0, back.groupBy("label").count().orderBy("label").collectAsList().get(1).getLong(1));

        String csv = tmp.resolve("t.csv").toString();
        df.select("id", "label", "name").write().option("header", "true").csv(csv);
        Dataset<Row> csvBack = spark.read().option("header", "true").option("inferSchema", "true").csv(csv);
        assertEquals(3, csvBack.count());
        assertEquals(DataTypes.DoubleType, csvBack.schema().apply("label").dataType());
    }
}
