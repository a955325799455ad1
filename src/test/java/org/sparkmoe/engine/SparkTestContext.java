package org.sparkmoe.engine;

import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * One local[2] SparkContext for all tests of a JVM (starting one costs seconds), configured as the
 * shipped defaults: Kryo with our registrator and registration required.
 */
public final class SparkTestContext {
    private static JavaSparkContext sc;

    private SparkTestContext() {
    }

    public static synchronized JavaSparkContext get() {
        if (sc == null) {
            SparkConf conf = conf("local[2]");
            sc = new JavaSparkContext(conf);
            sc.setLogLevel("WARN");
            try {
                Path dir = Files.createTempDirectory("spark-moe-checkpoints");
                sc.setCheckpointDir(dir.toUri().toString());
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
            Runtime.getRuntime().addShutdownHook(new Thread(() -> sc.stop()));
        }
        return sc;
    }

    /** The test configuration for a master URL. */
    public static SparkConf conf(String master) {
        return new SparkConf().setMaster(master).setAppName("spark-moe-test")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "org.sparkmoe.engine.serde.MoEKryoRegistrator")
                .set("spark.kryo.registrationRequired", "true")
                .set("spark.ui.enabled", "false")
                .set("spark.sql.shuffle.partitions", "4")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1");
    }
}
