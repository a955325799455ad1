package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.ml.MoEClassificationModel;
import org.sparkmoe.ml.MoERegressionModel;

/**
 * {@code jobs/score.sh} and {@code transform} give the same numbers for the same rows of the same
 * model: both run the application layer's {@link Scorer} and read its outputs the same way. The
 * columns map as the README's "Scoring" section says: the job's {@code probabilities} is
 * transform's {@code probability}, its {@code prediction} (an int) transform's (a double), its
 * {@code probability} the largest of them, its {@code experts}/{@code gates} the {@code expert}/
 * {@code gate} fields of transform's expertsCol; for regression its {@code prediction} array holds
 * transform's {@code prediction}.
 */
class ScoreAgreementTest {
    /** The current format's fixtures: a classifier trained by the job and a regressor saved by the ML API. */
    static Path fixtures() throws Exception {
        return ModelFormatFixtureTest.fixtures("v" + ModelDirectory.VERSION);
    }

    static Map<Long, Row> byId(Dataset<Row> rows) {
        Map<Long, Row> m = new HashMap<>();
        for (Row r : rows.collectAsList()) m.put(r.getLong(r.fieldIndex("id")), r);
        return m;
    }

    @Test
    void aJobScoreAndTransformAgreeOnAClassifier(@TempDir Path tmp) throws Exception {
        Path model = fixtures().resolve("job-classification");
        Path csv = fixtures().resolve("data/classes.csv");
        Path out = tmp.resolve("scores");
        ModelFormatFixtureTest.Job j = ModelFormatFixtureTest.job("score", "job.model=" + model, "input.format=csv", "input.path=" + csv,
                "score.output=" + out, "score.experts=true");
        assertEquals(0, j.code(), j.out());
        Map<Long, Row> job = byId(ModelFormatFixtureTest.spark().read().parquet(out.toString()));

        MoEClassificationModel m = MoEClassificationModel.load(model.toString());
        m.setExpertsCol("routes");
        Map<Long, Row> ml = byId(m.transform(ModelFormatFixtureTest.features(64, 5, true)));
        assertEquals(64, job.size());
        assertEquals(ml.keySet(), job.keySet());
        for (Map.Entry<Long, Row> e : ml.entrySet()) {
            Row a = job.get(e.getKey()), b = e.getValue();
            String at = "row " + e.getKey();
            double[] probability = ((Vector) b.getAs("probability")).toArray();
            List<Double> probabilities = a.getList(a.fieldIndex("probabilities"));
            assertEquals(probability.length, probabilities.size(), at);
            double max = 0;
            for (int c = 0; c < probability.length; c++) {
                assertEquals(probability[c], probabilities.get(c), 0.0, at + " class " + c);
                max = Math.max(max, probability[c]);
            }
            assertEquals((double) a.getInt(a.fieldIndex("prediction")), (double) b.getAs("prediction"), 0.0, at);
            assertEquals(max, a.getDouble(a.fieldIndex("probability")), 0.0, at);
            assertEquals((int) b.getDouble(b.fieldIndex("label")), a.getInt(a.fieldIndex("label")), at);
            List<Row> routes = b.getList(b.fieldIndex("routes"));
            List<Integer> experts = a.getList(a.fieldIndex("experts"));
            List<Double> gates = a.getList(a.fieldIndex("gates"));
            assertEquals(routes.size(), experts.size(), at);
            assertTrue(!routes.isEmpty(), at);
            for (int s = 0; s < routes.size(); s++) {
                assertEquals(routes.get(s).getInt(0), experts.get(s), at);
                assertEquals(routes.get(s).getDouble(1), gates.get(s), 0.0, at);
            }
        }
    }

    @Test
    void aJobScoreAndTransformAgreeOnARegressor(@TempDir Path tmp) throws Exception {
        Path model = fixtures().resolve("ml-regression");
        Dataset<Row> rows = ModelFormatFixtureTest.features(48, 11, false);
        StringBuilder sb = new StringBuilder("x0,x1,x2,x3,label\n");
        for (Row r : rows.orderBy("id").collectAsList()) {
            double[] x = ((Vector) r.get(1)).toArray();
            sb.append(x[0]).append(',').append(x[1]).append(',').append(x[2]).append(',').append(x[3]).append(',').append(r.getDouble(2))
                    .append('\n');
        }
        Path csv = tmp.resolve("rows.csv");
        Files.writeString(csv, sb.toString());
        Path out = tmp.resolve("scores");
        ModelFormatFixtureTest.Job j = ModelFormatFixtureTest.job("score", "job.model=" + model, "task=regression", "input.format=csv",
                "input.path=" + csv, "score.output=" + out);
        assertEquals(0, j.code(), j.out());
        Map<Long, Row> job = byId(ModelFormatFixtureTest.spark().read().parquet(out.toString()));
        Map<Long, Row> ml = byId(MoERegressionModel.load(model.toString()).transform(rows));
        assertEquals(48, job.size());
        assertEquals(ml.keySet(), job.keySet());
        for (Map.Entry<Long, Row> e : ml.entrySet()) {
            List<Double> y = job.get(e.getKey()).getList(job.get(e.getKey()).fieldIndex("prediction"));
            assertEquals(1, y.size());
            assertEquals((double) e.getValue().getAs("prediction"), y.get(0), 0.0, "row " + e.getKey());
        }
    }
}
