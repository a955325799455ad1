package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

/** When a session is told that OpenBLAS may run several threads inside each Spark task. */
class BlasThreadsAdviceTest {

    private static SparkConf master(String m) {
        return new SparkConf(false).set("spark.master", m);
    }

    @Test
    void localModeWarnsOnlyWhenSeveralTasksShareTheCoresAndNoThreadCountIsSet() {
        String w = BlasThreadsAdvice.warning(master("local[*]"), Map.of(), 8).orElseThrow();
        assertTrue(w.contains("OPENBLAS_NUM_THREADS=1") && w.contains("8 cores") && w.contains("8 tasks"), w);
        assertTrue(BlasThreadsAdvice.warning(master("local[2]"), Map.of("PATH", "/bin"), 2).isPresent());
        assertFalse(BlasThreadsAdvice.warning(master("local[2]"), Map.of("OPENBLAS_NUM_THREADS", "1"), 2).isPresent());
        assertFalse(BlasThreadsAdvice.warning(master("local[*]"), Map.of("OMP_NUM_THREADS", "1"), 2).isPresent());
        assertFalse(BlasThreadsAdvice.warning(master("local"), Map.of(), 8).isPresent(), "one task at a time leaves the cores to BLAS");
        assertFalse(BlasThreadsAdvice.warning(master("local[*]"), Map.of(), 1).isPresent());
        assertEquals(3, BlasThreadsAdvice.localSlots("local[3,2]", 8));
    }

    @Test
    void clusterModeLooksAtTheExecutorsEnvironment() {
        assertTrue(BlasThreadsAdvice.warning(master("spark://h:7077"), Map.of("OPENBLAS_NUM_THREADS", "1"), 8).orElseThrow()
                .contains("spark.executorEnv.OPENBLAS_NUM_THREADS=1"));
        assertTrue(BlasThreadsAdvice.warning(master("local-cluster[2,1,1024]"), Map.of("OPENBLAS_NUM_THREADS", "1"), 8).isPresent());
        assertFalse(BlasThreadsAdvice.warning(master("yarn").set("spark.executorEnv.OPENBLAS_NUM_THREADS", "1"), Map.of(), 8).isPresent());
    }
}
