package org.sparkmoe.engine;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.spark.SparkConf;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One warning per JVM when OpenBLAS would run several threads inside each Spark task. netlib's native
 * BLAS (our GEMM back end {@code netlib-native}, and MLlib's) loads {@code libblas.so.3}, usually
 * OpenBLAS, which unless told otherwise splits every GEMM over all the machine's cores, while Spark
 * already runs one task per core: the threads then wait for each other's cores. Measured on
 * configuration 4 of issue 9 (BENCHMARKS.md, "Session-5 fit work"): the classifier's step took 4.1x
 * the task CPU without {@code OPENBLAS_NUM_THREADS=1} (471 against 116 ms). In local mode the tasks
 * run in this JVM, so its own environment decides; on a cluster, the executors'
 * ({@code spark.executorEnv.*}).
 */
final class BlasThreadsAdvice {
    private static final Logger LOG = LoggerFactory.getLogger(BlasThreadsAdvice.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();
    /** What OpenBLAS reads for its thread count, in its order. */
    private static final String[] THREAD_VARS = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};

    private BlasThreadsAdvice() {
    }

    /**
     * The warning for a session with this conf, whose driver has environment {@code env} and
     * {@code cores} processors; empty when BLAS threads are set, or when a local session runs one
     * task at a time (then OpenBLAS's threads use cores Spark leaves idle).
     */
    static Optional<String> warning(SparkConf conf, Map<String, String> env, int cores) {
        String master = conf.get("spark.master", "");
        if (master.startsWith("local") && !master.startsWith("local-cluster")) {
            if (anySet(env) || cores < 2 || localSlots(master, cores) < 2) return Optional.empty();
            return Optional.of("spark-moe: OPENBLAS_NUM_THREADS is not set, so native BLAS (OpenBLAS) may split every GEMM over all "
                    + cores + " cores while Spark runs " + localSlots(master, cores) + " tasks at once; in local mode set "
                    + "OPENBLAS_NUM_THREADS=1 in the environment of the JVM that starts Spark (the jobs/ scripts do): "
                    + "a training step used 4x the task CPU without it (BENCHMARKS.md)");
        }
        Map<String, String> executorEnv = new java.util.HashMap<>();
        for (scala.Tuple2<String, String> kv : conf.getAllWithPrefix("spark.executorEnv.")) executorEnv.put(kv._1(), kv._2());
        if (anySet(executorEnv)) return Optional.empty();
        return Optional.of("spark-moe: spark.executorEnv.OPENBLAS_NUM_THREADS is not set; if the executors' native BLAS is OpenBLAS, "
                + "each GEMM may use all of a machine's cores while Spark runs one task per core: set "
                + "spark.executorEnv.OPENBLAS_NUM_THREADS=1 (a training step used 4x the task CPU without it, BENCHMARKS.md)");
    }

    /** Logs {@link #warning} for this JVM's environment, once per JVM. */
    static void check(SparkConf conf) {
        if (WARNED.get()) return;
        warning(conf, System.getenv(), Runtime.getRuntime().availableProcessors()).ifPresent(w -> {
            if (WARNED.compareAndSet(false, true)) LOG.warn(w);
        });
    }

    private static boolean anySet(Map<String, String> env) {
        for (String v : THREAD_VARS) {
            String x = env.get(v);
            if (x != null && !x.isBlank()) return true;
        }
        return false;
    }

    /** Tasks a local master runs at once: local = 1, local[N] / local[N,F] = N, local[*] = cores. */
    static int localSlots(String master, int cores) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("local\\[(\\*|\\d+)").matcher(master);
        if (!m.lookingAt()) return 1;
        return m.group(1).equals("*") ? cores : Integer.parseInt(m.group(1));
    }
}
