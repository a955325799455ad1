package org.sparkmoe.engine.compat;

import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsReader$;
import org.apache.spark.ml.util.DefaultParamsWriter$;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark calls whose signatures differ between Spark lines, for Spark 4.x. The build compiles
 * exactly one copy of this class: src/main/spark-4/java (default) or src/main/spark-3.5/java
 * ({@code -Pspark-3.5}); both have the same methods.
 */
public final class SparkCompat {
    /** The Spark line this build was compiled for. */
    public static final String SPARK_LINE = "4";

    private SparkCompat() {
    }

    /** {@code DefaultParamsWriter.saveMetadata}: the instance's class, uid, params and Spark version as JSON. */
    public static void saveMetadata(Params instance, String path, SparkSession spark) {
        DefaultParamsWriter$.MODULE$.saveMetadata(instance, path, spark);
    }

    /** {@code DefaultParamsReader.loadMetadata}, checking that the saved class is {@code expectedClassName}. */
    public static DefaultParamsReader.Metadata loadMetadata(String path, SparkSession spark, String expectedClassName) {
        return DefaultParamsReader$.MODULE$.loadMetadata(path, spark, expectedClassName);
    }
}
