package org.sparkmoe.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import org.apache.spark.ml.classification.MultilayerPerceptronClassifier;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.linalg.GemmBackends;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.ml.MoEClassifier;

/**
 * Configuration 4 of issue 9: what a Spark user would pick instead. MLlib's
 * MultilayerPerceptronClassifier 64-256-10 against our classifier (d = 64, n = 16, k = 2, h = 64:
 * about the same multiply-adds per example) on the same data: {@code rows} examples of 64 features
 * and 10 classes (4 Gaussian clusters per class, so the classes are not linearly separable), 80% to
 * train and 20% held out, 4 partitions, local[2]. For each training budget (MLP iterations of its
 * solver over the whole training set; MoE steps of B examples) it prints the fit's wall time,
 * training examples per second (MLP: rows x iterations / time; MoE: B x steps / time) and the
 * held-out accuracy, so that time to a given accuracy can be read off. A second table gives, per
 * MLP iteration or MoE step, what does not depend on the machine's load: Spark jobs, stages and
 * tasks (a {@code SparkListener}), task CPU time and the tasks' CPU time deserialising themselves (Spark's
 * task metrics, {@code executorCpuTime} and {@code executorDeserializeCpuTime}) and bytes allocated by the
 * JVM's live threads ({@code ThreadMXBean}), garbage collections and their time (the collectors' MXBeans),
 * each over the whole fit (data preparation included),
 * and the whole fit's process CPU time with the training examples per CPU second, which on a shared
 * machine says more than wall time (it still moves with cache and memory-bandwidth contention).
 *
 * <p>Both sides are counted the same way: examples/s is the examples the fit trained on (MLP: the
 * training rows times iterations, each iteration a full pass with solver gd; MoE: B times steps)
 * over the wall time of the whole {@code fit} call, its setup (feature checks, conversion of the
 * DataFrame to the model's blocks, initialisation) and model building included. With two budgets or
 * more per model it also prints the marginal rate between the smallest and the largest (what one
 * more iteration or step costs, setup excluded). Unless {@code warmup=0}, each model is first fitted
 * once, untimed, on a budget of {@code warmup} iterations or steps, so that the timed fits pay less
 * for the JVM's first use of their code (class loading, JIT compilation): without it the MLP, fitted
 * first, read 93k examples/s at 25 iterations where a warm JVM reads more; after a warm-up of 2 its
 * first timed fit (10 iterations) still took 1.5x the CPU per iteration of the next (25). The header names the BLAS each side
 * runs on (MLlib's MLP: {@code org.apache.spark.ml.linalg.BLAS.nativeBLAS()}, double precision;
 * ours: {@link GemmBackends#current()}, float) and {@code OPENBLAS_NUM_THREADS}.
 *
 * <p>Arguments (key=value, all optional): rows=100000, solver=gd, mlpIters=25,50,100,
 * (or none: the MoE alone), mlpStep=0.03, batch=16384, moeSteps=10,20,40, moeStep=0.01, seed=3, warmup=10.
 */
public final class MlpComparisonBenchmark {

    public static void main(String[] args) {
        BenchArgs a = new BenchArgs(args);
        int rows = a.integer("rows", 100000);
        String solver = a.string("solver", "gd");
        // mlpIters=none fits the MoE alone (for profiling its step)
        int[] mlpIters = "none".equals(a.string("mlpIters", "")) ? new int[0] : a.integers("mlpIters", "25,50,100");
        double mlpStep = Double.parseDouble(a.string("mlpStep", "0.03"));
        int batch = a.integer("batch", 16384);
        int[] moeSteps = a.integers("moeSteps", "10,20,40");
        double moeStep = Double.parseDouble(a.string("moeStep", "0.01"));
        long seed = a.integer("seed", 3);
        int warmup = a.integer("warmup", 10);
        int dim = 64, classes = 10;

        // a user's session as shipped (conf/): Kryo with our registrator, registration not required, since
        // MLlib's MLP ships breeze vectors that no registrator lists; the shipped broadcast block size comes
        // with SparkTestContext.conf (-Dspark.broadcast.blockSize=4m gives Spark's default)
        SparkSession spark = SparkSession.builder()
                .config(SparkTestContext.conf("local[2]").set("spark.kryo.registrationRequired", "false"))
                .getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        StructType schema = new StructType().add("features", new VectorUDT(), false).add("label", DataTypes.DoubleType, false);
        Dataset<Row>[] split = spark.createDataFrame(clusteredRows(rows, dim, classes, seed), schema).randomSplit(new double[]{0.8, 0.2}, seed);
        Dataset<Row> train = split[0].repartition(4).cache();
        Dataset<Row> test = split[1].repartition(4).cache();
        long trainRows = train.count();
        test.count();
        MulticlassClassificationEvaluator acc = new MulticlassClassificationEvaluator().setMetricName("accuracy");
        System.out.printf(Locale.ROOT, "%d training rows, %d held out, 64 features, 10 classes, 4 partitions, %s; load average %s%n",
                trainRows, rows - trainRows, spark.sparkContext().master(), EngineBenchmark.loadAverage());
        System.out.printf(Locale.ROOT, "BLAS: MLlib's MLP %s; ours %s; OPENBLAS_NUM_THREADS=%s; warm-up fits %s%n%n",
                org.apache.spark.ml.linalg.BLAS$.MODULE$.nativeBLAS().getClass().getSimpleName(), GemmBackends.current().name(),
                System.getenv().getOrDefault("OPENBLAS_NUM_THREADS", "(unset)"),
                warmup > 0 ? warmup + " iterations and " + warmup + " steps, untimed" : "none");
        if (warmup > 0) {
            if (mlpIters.length > 0) mlp(dim, classes, solver, mlpStep, warmup, seed).fit(train);
            moe(dim, batch, moeStep, warmup, seed).fit(train);
        }
        System.out.println("| model | budget | fit s | training examples/s | held-out accuracy | load average |");
        System.out.println("|---|---|---:|---:|---:|---:|");
        Counters counters = new Counters();
        spark.sparkContext().addSparkListener(counters);
        List<String> perStep = new ArrayList<>();
        List<String> marginal = new ArrayList<>();
        double[] mlpSeconds = new double[mlpIters.length];
        for (int i = 0; i < mlpIters.length; i++) {
            int iters = mlpIters[i];
            String name = "MLP 64-256-10 (" + solver + ") | " + iters + " iterations";
            double[] r = fitAndScore(mlp(dim, classes, solver, mlpStep, iters, seed), train, test, acc, counters, iters,
                    trainRows * (double) iters, name, perStep);
            mlpSeconds[i] = r[0];
            System.out.printf(Locale.ROOT, "| %s | %.1f | %,.0f | %.4f | %s |%n", name, r[0],
                    trainRows * (double) iters / r[0], r[1], EngineBenchmark.loadAverage());
        }
        marginal(marginal, "MLP 64-256-10 (" + solver + ")", "iterations", mlpIters, mlpSeconds, trainRows);
        double[] moeSeconds = new double[moeSteps.length];
        for (int i = 0; i < moeSteps.length; i++) {
            int steps = moeSteps[i];
            String name = "MoE d=64 n=16 k=2 h=64 (B=" + batch + ") | " + steps + " steps";
            double[] r = fitAndScore(moe(dim, batch, moeStep, steps, seed), train, test, acc, counters, steps,
                    (double) batch * steps, name, perStep);
            moeSeconds[i] = r[0];
            System.out.printf(Locale.ROOT, "| %s | %.1f | %,.0f | %.4f | %s |%n", name, r[0],
                    (double) batch * steps / r[0], r[1], EngineBenchmark.loadAverage());
        }
        marginal(marginal, "MoE d=64 n=16 k=2 h=64 (B=" + batch + ")", "steps", moeSteps, moeSeconds, batch);
        if (!marginal.isEmpty()) {
            System.out.println();
            System.out.println("Marginal rate (setup excluded: the extra examples of the largest budget over the smallest, per extra second):");
            System.out.println();
            System.out.println("| model | budgets | extra s | ms per iteration or step | examples/s |");
            System.out.println("|---|---|---:|---:|---:|");
            marginal.forEach(System.out::println);
        }
        System.out.println();
        System.out.println("Per iteration or step, over the whole fit (less dependent on load than wall time); then the whole fit's CPU time"
                + " (every thread of this JVM: driver, tasks, GC, JIT; OpenBLAS threads included) and the training examples per CPU second:");
        System.out.println();
        System.out.println("| model | budget | jobs | stages | tasks | task CPU ms | task deserialise CPU ms | MB allocated | GCs | GC ms | fit CPU s"
                + " | examples per CPU s |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        perStep.forEach(System.out::println);
        spark.stop();
    }

    /**
     * The benchmark's data: {@code rows} (features, label) rows, 4 Gaussian clusters per class (centres
     * drawn with standard deviation 0.5, unit noise), so that the classes are not linearly separable.
     */
    public static List<Row> clusteredRows(int rows, int dim, int classes, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double[][] centres = new double[classes * 4][dim];
        for (double[] c : centres) for (int j = 0; j < dim; j++) c[j] = 0.5 * rnd.nextGaussian();
        List<Row> data = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            int cluster = rnd.nextInt(centres.length);
            double[] x = new double[dim];
            for (int j = 0; j < dim; j++) x[j] = centres[cluster][j] + rnd.nextGaussian();
            data.add(RowFactory.create(Vectors.dense(x), (double) (cluster % classes)));
        }
        return data;
    }

    static MultilayerPerceptronClassifier mlp(int dim, int classes, String solver, double step, int iters, long seed) {
        return new MultilayerPerceptronClassifier().setLayers(new int[]{dim, 256, classes})
                .setSolver(solver).setStepSize(step).setMaxIter(iters).setTol(0).setSeed(seed);
    }

    static MoEClassifier moe(int dim, int batch, double step, int steps, long seed) {
        return new MoEClassifier().setNumExperts(16).setK(2).setModelDim(dim).setExpertHiddenSize(64)
                .setBatchSize(batch).setMaxSteps(steps).setStepSize(step).setWarmupSteps(0).setSeed(seed);
    }

    /** The marginal row of a model fitted at two budgets or more: smallest against largest. */
    private static void marginal(List<String> out, String model, String unit, int[] budgets, double[] seconds, long examplesPerUnit) {
        if (budgets.length < 2) return;
        int lo = 0, hi = 0;
        for (int i = 1; i < budgets.length; i++) {
            if (budgets[i] < budgets[lo]) lo = i;
            if (budgets[i] > budgets[hi]) hi = i;
        }
        int extra = budgets[hi] - budgets[lo];
        double s = seconds[hi] - seconds[lo];
        if (extra <= 0) return;
        out.add(String.format(Locale.ROOT, "| %s | %d -> %d %s | %.1f | %.1f | %s |", model, budgets[lo], budgets[hi], unit, s,
                1e3 * s / extra, s > 0 ? String.format(Locale.ROOT, "%,.0f", examplesPerUnit * (double) extra / s) : "n/a"));
    }

    /** Jobs, stages, tasks and task CPU time of everything Spark ran, from its listener bus. */
    private static final class Counters extends org.apache.spark.scheduler.SparkListener {
        final java.util.concurrent.atomic.AtomicLong jobs = new java.util.concurrent.atomic.AtomicLong();
        final java.util.concurrent.atomic.AtomicLong stages = new java.util.concurrent.atomic.AtomicLong();
        final java.util.concurrent.atomic.AtomicLong tasks = new java.util.concurrent.atomic.AtomicLong();
        final java.util.concurrent.atomic.AtomicLong cpuNanos = new java.util.concurrent.atomic.AtomicLong();
        /** CPU the tasks spent deserialising themselves (their RDD, its lineage and closures), outside {@link #cpuNanos}. */
        final java.util.concurrent.atomic.AtomicLong deserializeCpuNanos = new java.util.concurrent.atomic.AtomicLong();

        @Override
        public void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart e) {
            jobs.incrementAndGet();
        }

        @Override
        public void onStageCompleted(org.apache.spark.scheduler.SparkListenerStageCompleted e) {
            stages.incrementAndGet();
        }

        @Override
        public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd e) {
            tasks.incrementAndGet();
            if (e.taskMetrics() != null) {
                cpuNanos.addAndGet(e.taskMetrics().executorCpuTime());
                deserializeCpuNanos.addAndGet(e.taskMetrics().executorDeserializeCpuTime());
            }
        }

        long[] snapshot(SparkSession spark) {
            // the listener bus is asynchronous: let it drain before reading
            try {
                Thread.sleep(500);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
            return new long[]{jobs.get(), stages.get(), tasks.get(), cpuNanos.get(), deserializeCpuNanos.get()};
        }
    }

    /** Collections and milliseconds spent collecting, summed over the JVM's collectors (G1: young, concurrent and old). */
    private static long[] gc() {
        long count = 0, millis = 0;
        for (java.lang.management.GarbageCollectorMXBean b : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
            count += Math.max(0, b.getCollectionCount());
            millis += Math.max(0, b.getCollectionTime());
        }
        return new long[]{count, millis};
    }

    /** Seconds to fit {@code estimator} on {@code train}, and the model's accuracy on {@code test}. */
    private static double[] fitAndScore(org.apache.spark.ml.Estimator<? extends org.apache.spark.ml.Model<?>> estimator,
                                        Dataset<Row> train, Dataset<Row> test, MulticlassClassificationEvaluator acc,
                                        Counters counters, int budget, double examples, String name, List<String> perStep) {
        SparkSession spark = train.sparkSession();
        long[] c0 = counters.snapshot(spark);
        long a0 = EngineBenchmark.allocatedBytes();
        long cpu0 = EngineBenchmark.processCpuNanos();
        long[] gc0 = gc();
        long t0 = System.nanoTime();
        org.apache.spark.ml.Model<?> model = estimator.fit(train);
        double s = (System.nanoTime() - t0) / 1e9;
        double cpu = (EngineBenchmark.processCpuNanos() - cpu0) / 1e9;
        long[] gc1 = gc();
        long a1 = EngineBenchmark.allocatedBytes();
        long[] c1 = counters.snapshot(spark);
        perStep.add(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f | %,.0f |", name,
                (c1[0] - c0[0]) / (double) budget, (c1[1] - c0[1]) / (double) budget, (c1[2] - c0[2]) / (double) budget,
                (c1[3] - c0[3]) / 1e6 / budget, (c1[4] - c0[4]) / 1e6 / budget, (a1 - a0) / 1e6 / budget, (gc1[0] - gc0[0]) / (double) budget,
                (gc1[1] - gc0[1]) / (double) budget, cpu, examples / cpu));
        return new double[]{s, acc.evaluate(model.transform(test))};
    }
}
