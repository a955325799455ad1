package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DistributedExpertModelTest {

    static void assertSameScores(List<Row> a, List<Row> b, String col, boolean vector) {
        assertEquals(a.size(), b.size());
        int same = 0;
        for (int i = 0; i < a.size(); i++) {
            Row x = a.get(i), y = b.get(i);
            assertEquals(x.getDouble(x.fieldIndex("x0")), y.getDouble(y.fieldIndex("x0")));
            if (vector) {
                double[] p = ((Vector) x.getAs(col)).toArray(), q = ((Vector) y.getAs(col)).toArray();
                for (int c = 0; c < p.length; c++) assertEquals(p[c], q[c], 1e-4);
                if (x.getDouble(x.fieldIndex("prediction")) == y.getDouble(y.fieldIndex("prediction"))) same++;
            } else {
                assertEquals(x.getDouble(x.fieldIndex(col)), y.getDouble(y.fieldIndex(col)), 1e-4);
                same++;
            }
        }
        assertTrue(same >= 0.99 * a.size(), same + " of " + a.size() + " predictions agree");
    }

    @Test
    void scoresWithExpertsOnTheExecutorsLikeTheModel(@TempDir Path tmp) throws Exception {
        Dataset<Row> train = MlTestData.frame(1500, 21, true, 2).cache();
        Dataset<Row> test = MlTestData.frame(400, 22, true, 3).cache();
        MoEClassificationModel model = new MoEClassifier().setNumExperts(6).setK(2).setModelDim(8).setExpertHiddenSize(8)
                .setBatchSize(128).setMaxSteps(20).setStepSize(0.02).setSeed(5).fit(train);
        String path = tmp.resolve("clf").toString();
        model.save(path);
        DistributedExpertModel d = DistributedExpertModel.load(MlTestData.spark(), path, 3);
        try {
            assertEquals(6, d.experts().count());
            assertEquals(3, d.experts().getNumPartitions());
            List<Row> expected = model.transform(test).orderBy("x0").collectAsList();
            List<Row> actual = d.transform(test).orderBy("x0").collectAsList();
            assertSameScores(expected, actual, "probability", true);
        } finally {
            d.unpersist();
        }

        Dataset<Row> trainR = MlTestData.frame(1500, 23, false, 2).cache();
        MoERegressionModel reg = new MoERegressor().setGating("hierarchical").setNumGroups(2).setExpertsPerGroup(2)
                .setModelDim(8).setExpertHiddenSize(8).setBatchSize(128).setMaxSteps(10).setSeed(5).fit(trainR);
        reg.save(tmp.resolve("reg").toString());
        DistributedExpertModel dr = DistributedExpertModel.load(MlTestData.spark(), tmp.resolve("reg").toString(), 2);
        try {
            assertSameScores(reg.transform(test).orderBy("x0").collectAsList(), dr.transform(test).orderBy("x0").collectAsList(),
                    "prediction", false);
        } finally {
            dr.unpersist();
        }
    }
}
