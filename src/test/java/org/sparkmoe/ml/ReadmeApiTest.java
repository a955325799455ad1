package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import org.apache.spark.ml.evaluation.BinaryClassificationEvaluator;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.SparkTestContext;

/**
 * The README's API section runs as written: the code between the markers below is the README's
 * snippet, line for line, and runs in a plain session (nothing configured: Spark's Java serializer).
 */
class ReadmeApiTest {

    @Test
    void theReadmeSnippetRunsInAPlainSession(@TempDir Path tmp) throws Exception {
        String libsvm = writeLibsvm(tmp.resolve("train.libsvm"));
        String modelPath = tmp.resolve("model").toString();
        SparkTestContext.stop();
        SparkSession.clearActiveSession();
        SparkSession.clearDefaultSession();
        // this machine's hostname does not resolve to a usable address; a plain session reads spark.* system properties
        System.setProperty("spark.driver.host", "127.0.0.1");
        System.setProperty("spark.driver.bindAddress", "127.0.0.1");
        System.setProperty("spark.ui.enabled", "false");
        SparkSession spark = null;
        try {
            // README-API-BEGIN
            spark = SparkSession.builder().master("local[2]").appName("moe").getOrCreate(); // nothing set: Java serializer
            Dataset<Row> data = spark.read().format("libsvm").load(libsvm);                 // label 0/1, features
            Dataset<Row>[] split = data.randomSplit(new double[] {0.8, 0.2}, 42);

            MoEClassifier moe = new MoEClassifier().setNumExperts(8).setK(2).setModelDim(16).setExpertHiddenSize(16)
                    .setBatchSize(256).setMaxSteps(60).setStepSize(0.02).setSeed(1);
            MoEClassificationModel model = moe.fit(split[0]);
            System.out.println(model);          // MoEClassificationModel: uid=..., numExperts=8, k=2, d=16, h=16, ...
            MoETrainingSummary summary = model.summary();
            double[] cvLoad = summary.cvLoad(); // per step; also taskLoss, importanceLoss, loadLoss, maxOverMeanLoad
            Dataset<Row> weighted = split[0].withColumn("w", functions.when(functions.col("label").equalTo(1), 2.0).otherwise(1.0));
            MoEClassificationModel byWeight = moe.copy(ParamMap.empty()).setWeightCol("w").fit(weighted); // label-1 rows count twice

            Dataset<Row> scored = model.transform(split[1]);  // rawPrediction, probability, prediction
            double auc = new BinaryClassificationEvaluator().evaluate(scored);
            double accuracy = new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored);
            double p1 = model.predictProbability(Vectors.dense(0.5, -0.2, 0.1, 0.9)).apply(1);  // one row

            model.write().overwrite().save(modelPath);
            MoEClassificationModel loaded = MoEClassificationModel.load(modelPath);
            // README-API-END
            assertEquals(60, cvLoad.length);
            // twice the weight on label 1 moves the predicted probability of label 1 up; the two fits share seed,
            // rows and noise, so a weight column that were ignored would give exactly the same probabilities
            // (0.009 up with the session-6 gate noise, 0.594 against 0.585)
            assertTrue(meanP1(byWeight.transform(split[1])) > meanP1(scored) + 0.005,
                    "weighted " + meanP1(byWeight.transform(split[1])) + ", unweighted " + meanP1(scored));
            assertTrue(auc > 0.8, "auc " + auc);
            assertTrue(accuracy > 0.7, "accuracy " + accuracy);
            assertTrue(p1 > 0 && p1 < 1);
            assertEquals(p1, loaded.predictProbability(Vectors.dense(0.5, -0.2, 0.1, 0.9)).apply(1), 1e-6);
            assertEquals("org.apache.spark.serializer.JavaSerializer", spark.sparkContext().env().serializer().getClass().getName());
        } finally {
            if (spark != null) spark.stop();
            SparkSession.clearActiveSession();
            SparkSession.clearDefaultSession();
            System.clearProperty("spark.driver.host");
            System.clearProperty("spark.driver.bindAddress");
            System.clearProperty("spark.ui.enabled");
        }
    }

    private static double meanP1(Dataset<Row> scored) {
        return scored.select("probability").collectAsList().stream()
                .mapToDouble(r -> ((org.apache.spark.ml.linalg.Vector) r.get(0)).apply(1)).average().orElseThrow();
    }

    @Test
    void theReadmeShowsTheSnippetAsTested() throws Exception {
        List<String> test = Files.readAllLines(Path.of("src/test/java/org/sparkmoe/ml/ReadmeApiTest.java"));
        List<String> snippet = new ArrayList<>();
        boolean in = false;
        for (String line : test) {
            if (line.contains("README-API-END") && !line.contains("contains")) break;
            if (in) snippet.add(line.length() >= 12 ? line.substring(12) : line.strip());
            if (line.contains("README-API-BEGIN") && !line.contains("contains")) in = true;
        }
        snippet.set(0, snippet.get(0).replace("spark = ", "SparkSession spark = "));
        String readme = Files.readString(Path.of("README.md"));
        String expected = String.join("\n", snippet);
        assertTrue(readme.contains(expected), "README.md's API section differs from the tested code; it should contain:\n" + expected);
    }

    /** Two classes, separable by the sign of x0 + x3 with a little noise: libsvm text, 1-based indices. */
    static String writeLibsvm(Path file) throws java.io.IOException {
        SplittableRandom rnd = new SplittableRandom(5);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 1200; i++) {
            double[] x = new double[4];
            for (int j = 0; j < 4; j++) x[j] = rnd.nextDouble(-1, 1);
            int label = x[0] + x[3] + 0.1 * rnd.nextGaussian() > 0 ? 1 : 0;
            sb.append(label);
            for (int j = 0; j < 4; j++) sb.append(String.format(Locale.ROOT, " %d:%.4f", j + 1, x[j]));
            sb.append('\n');
        }
        Files.writeString(file, sb);
        return file.toString();
    }
}
