package org.sparkmoe.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * The SparkContext of the tests of a JVM (starting one costs seconds), configured as the shipped
 * defaults: Kryo with our registrator and registration required.
 * <p>
 * Spark allows one SparkContext per JVM, so this holds at most one, of one of two kinds, and swaps
 * them on demand: {@link #get()} gives the in-process {@code local[2]} context most tests use;
 * {@link #localCluster()} gives a {@code local-cluster[2,1,1024]} context whose two executors are
 * separate JVMs (real serialisation, real shuffle files, executors that can die). Asking for one
 * kind stops the other; the next {@link #get()} after a cluster test recreates {@code local[2]}.
 */
public final class SparkTestContext {
    /** Two executor JVMs (workers), 1 core each, 1024 MB each. */
    public static final String LOCAL_CLUSTER = "local-cluster[2,1,1024]";
    public static final int CLUSTER_EXECUTORS = 2;

    private static JavaSparkContext sc;
    private static boolean cluster;
    private static boolean hookInstalled;
    /** The temporary directories of the running context (checkpoints, a cluster's Spark home), deleted when it stops. */
    private static final List<Path> tempDirs = new ArrayList<>();

    private SparkTestContext() {
    }

    /** The shared local[2] context (stops a local-cluster context first if one is running). */
    public static synchronized JavaSparkContext get() {
        if (sc != null && cluster) stop();
        if (sc == null) {
            start(conf("local[2]"), false);
        }
        return sc;
    }

    /**
     * The shared local-cluster context (stops a local[2] context first if one is running), with both
     * executors registered: reused while it is running.
     */
    public static synchronized JavaSparkContext localCluster() {
        return localCluster(LOCAL_CLUSTER);
    }

    /**
     * {@link #localCluster()} with another {@code local-cluster[executors,cores,MB]} master (each
     * executor gets MB of memory), for benchmarks that need bigger executors; a running cluster
     * context is reused whatever its master.
     */
    public static synchronized JavaSparkContext localCluster(String master) {
        java.util.regex.Matcher shape = java.util.regex.Pattern.compile("local-cluster\\[(\\d+),\\s*(\\d+),\\s*(\\d+)]").matcher(master);
        if (!shape.matches()) {
            throw new IllegalArgumentException("not a local-cluster[executors,cores,MB] master: " + master);
        }
        int executors = Integer.parseInt(shape.group(1));
        if (sc != null && !cluster) stop();
        if (sc == null) {
            Path home = tempDir("spark-moe-test-home");
            // LocalSparkCluster runs a standalone Master and Workers inside this JVM; the Workers launch
            // executors as child JVMs. These two must be JVM system properties (read with sys.props, not
            // from the SparkConf) before the SparkContext starts:
            //  - spark.testing: StandaloneSchedulerBackend then puts this JVM's java.class.path on the
            //    executors' class path (there is no Spark distribution with jars/ here), SparkContext
            //    passes SPARK_TESTING=1 to the executors' environment (so the launcher does not insist on
            //    $SPARK_HOME/jars), and the Worker takes its Spark home from spark.test.home;
            //  - spark.test.home: that Spark home; any writable dir (Workers put their work/ dir in it).
            System.setProperty("spark.testing", "1");
            System.setProperty("spark.test.home", home.toString());
            try {
                start(clusterConf(master, Integer.parseInt(shape.group(3))), true);
                awaitExecutors(executors, 120_000);
            } catch (RuntimeException | Error e) {
                stop();
                throw e;
            }
        }
        return sc;
    }

    /** Stops the current context, if any (the next {@link #get()} or {@link #localCluster()} starts a new one). */
    public static synchronized void stop() {
        if (sc != null) {
            try {
                sc.stop();
            } finally {
                sc = null;
                if (cluster) {
                    System.clearProperty("spark.testing");
                    System.clearProperty("spark.test.home");
                }
                cluster = false;
                tempDirs.forEach(SparkTestContext::deleteTree);
                tempDirs.clear();
            }
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // best effort: a leftover temp directory is not a test failure
        }
    }

    /** Waits until {@code n} executors (besides the driver) are registered. */
    public static void awaitExecutors(int n, long timeoutMillis) {
        JavaSparkContext c = sc;
        long deadline = System.currentTimeMillis() + timeoutMillis;
        // getExecutorInfos() lists the driver too
        while (c.sc().statusTracker().getExecutorInfos().length < n + 1) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("only " + (c.sc().statusTracker().getExecutorInfos().length - 1)
                        + " of " + n + " executors registered after " + timeoutMillis + " ms");
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    private static void start(SparkConf conf, boolean isCluster) {
        sc = new JavaSparkContext(conf);
        cluster = isCluster;
        sc.setLogLevel("WARN");
        // a local directory serves as reliable checkpoint storage for local-cluster too: all on one machine
        sc.setCheckpointDir(tempDir("spark-moe-checkpoints").toUri().toString());
        if (!hookInstalled) {
            Runtime.getRuntime().addShutdownHook(new Thread(SparkTestContext::stop));
            hookInstalled = true;
        }
    }

    private static Path tempDir(String prefix) {
        try {
            Path dir = Files.createTempDirectory(prefix);
            tempDirs.add(dir);
            return dir;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The test configuration for a master URL. */
    public static SparkConf conf(String master) {
        return new SparkConf().setMaster(master).setAppName("spark-moe-test")
                .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .set("spark.kryo.registrator", "org.sparkmoe.engine.serde.MoEKryoRegistrator")
                .set("spark.kryo.registrationRequired", "true")
                .set("spark.ui.enabled", "false")
                // as conf/spark-defaults.conf ships it: Spark's 4m takes a humongous 4 MB chunk per stage's task binary
                .set("spark.broadcast.blockSize", System.getProperty("spark.broadcast.blockSize", "256k"))
                // as conf/spark-defaults.conf ships it: gradient-carrying results over Spark's 1m go through the block manager
                .set("spark.task.maxDirectResultSize", System.getProperty("spark.task.maxDirectResultSize", "16m"))
                .set("spark.sql.shuffle.partitions", "4")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1");
    }

    /** The local-cluster configuration: {@link #conf(String)} plus what separate executor JVMs need. */
    static SparkConf clusterConf() {
        return clusterConf(LOCAL_CLUSTER, 1024);
    }

    private static SparkConf clusterConf(String master, int executorMb) {
        return conf(master)
                // The launcher cannot tell the Scala version without $SPARK_HOME/jars; executors only.
                .set("spark.executorEnv.SPARK_SCALA_VERSION", "2.13")
                // Executors run Spark on Java 17 too and need the --add-opens list spark-submit would add
                // (docs/DESIGN.md section 9); without it Kryo/Netty fail with InaccessibleObjectException.
                .set("spark.executor.extraJavaOptions", String.join(" ", sparkJvmFlags()))
                // the Worker's memory (1024 MB for the tests): the executor must fit (the default 1g does; say it explicitly).
                .set("spark.executor.memory", executorMb + "m")
                // Fail fast if an executor cannot start instead of retrying 10 times.
                .set("spark.deploy.maxExecutorRetries", "3")
                // As the shipped defaults: one BLAS thread per task (Spark runs one task per core).
                .set("spark.executorEnv.OPENBLAS_NUM_THREADS", "1");
    }

    /**
     * The JVM flags of this JVM that Spark needs on Java 17: the {@code spark.jvm.args} list of pom.xml,
     * which surefire puts on the test JVM's command line (argLine), and its huge-pages and G1 region flags. Read back from
     * the running JVM so that there is one list to maintain; memory and agent flags are left out.
     */
    static List<String> sparkJvmFlags() {
        List<String> out = new ArrayList<>();
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-opens") || a.startsWith("--add-exports") || a.startsWith("--add-modules")
                    || a.startsWith("--enable-native-access") || a.startsWith("-Dio.netty.")
                    || a.equals("-XX:+IgnoreUnrecognizedVMOptions") || a.equals("-XX:+EnableDynamicAgentLoading")
                    || a.equals("-XX:+UseTransparentHugePages") || a.startsWith("-XX:G1HeapRegionSize=")) {
                out.add(a);
            }
        }
        if (out.stream().noneMatch(a -> a.startsWith("--add-opens"))) {
            throw new IllegalStateException("this JVM was started without the --add-opens flags of pom.xml's "
                    + "spark.jvm.args; executors need them too (run through maven or copy the argLine)");
        }
        return out;
    }
}
