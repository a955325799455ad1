package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.apache.spark.ml.param.Param;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

class MoEParamsValidationTest {
    static final StructType SCHEMA = MlTestData.SCHEMA;

    static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' should mention " + p);
    }

    @Test
    void singleParamValidatorsNameTheParam() {
        MoEClassifier c = new MoEClassifier();
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setK(0)), "k", "0");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setNumExperts(0)), "numExperts");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setGating("dense")), "gating", "dense");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setRouting("broadcast")), "routing");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setPlacement("gpu")), "placement");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setWLoad(-1)), "wLoad");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> c.setStepSize(0)), "stepSize");
        // featuresCol is MLlib's own param (any string); an empty one is refused by the schema check, naming it
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new MoEClassifier().setFeaturesCol("").transformSchema(SCHEMA)),
                "featuresCol");
    }

    @Test
    void theBatchSizeDefaultIsDataSizedAndASetOneWins() {
        // 0: the engine sizes B from the training rows it counts (BatchPlan.dataSized); a set value is passed as it is
        for (MoEParams<?> p : java.util.List.<MoEParams<?>>of(new MoEClassifier(), new MoERegressor())) {
            assertEquals(org.sparkmoe.engine.BatchPlan.DATA_SIZED, p.getBatchSize());
            assertEquals(org.sparkmoe.engine.BatchPlan.DATA_SIZED, ParamsConfig.engineConfig(p).batchSize());
        }
        assertEquals(0, new MoELanguageModelEstimator().getBatchSize());
        assertEquals(512, ParamsConfig.engineConfig(new MoEClassifier().setBatchSize(512)).batchSize());
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new MoEClassifier().setBatchSize(-1)), "batchSize");
    }

    @Test
    void crossParamChecksNameTheParams() {
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setNumExperts(4).setK(5).transformSchema(SCHEMA)), "param k", "numExperts");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoERegressor().setGating("hierarchical").setNumGroups(2).setKPrimary(3).transformSchema(SCHEMA)),
                "kPrimary", "numGroups");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoERegressor().setGating("hierarchical").setExpertsPerGroup(2).setKSecondary(3).transformSchema(SCHEMA)),
                "kSecondary", "expertsPerGroup");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoERegressor().setNumExperts(2).setK(1).setExpertShards(3).transformSchema(SCHEMA)), "expertShards");
        // softmax gating uses all experts: k is not checked
        new MoEClassifier().setGating("softmax").setNumExperts(2).setK(5).transformSchema(SCHEMA);
    }

    @Test
    void columnChecksNameTheColumnAndParam() {
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setFeaturesCol("nope").transformSchema(SCHEMA)), "'nope'", "featuresCol", "does not exist");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setLabelCol("missing").transformSchema(SCHEMA)), "'missing'", "labelCol");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setFeaturesCol("x0").transformSchema(SCHEMA)), "'x0'", "featuresCol", "Vector", "double");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoERegressor().setLabelCol("name").transformSchema(SCHEMA)), "'name'", "labelCol", "numeric", "string");
        assertMessage(assertThrows(IllegalArgumentException.class,
                () -> new MoEClassifier().setPredictionCol("x1").transformSchema(SCHEMA)), "'x1'", "predictionCol", "already exists");
    }

    @Test
    void outputSchemaAndDefaults() {
        StructType out = new MoEClassifier().setExpertsCol("experts").transformSchema(SCHEMA);
        assertEquals(Arrays.asList("rawPrediction", "probability", "prediction", "experts"),
                Arrays.asList(out.fieldNames()).subList(SCHEMA.size(), out.size()));
        StructType reg = new MoERegressor().transformSchema(SCHEMA);
        assertEquals(Arrays.asList("prediction"), Arrays.asList(reg.fieldNames()).subList(SCHEMA.size(), reg.size()));
        StructType none = new MoEClassifier().setRawPredictionCol("").setProbabilityCol("").transformSchema(SCHEMA);
        assertEquals(SCHEMA.size() + 1, none.size());
        MoEClassifier c = new MoEClassifier();
        assertEquals(8, c.getNumExperts());
        assertEquals(2, c.getK());
        assertEquals("noisyTopK", c.getGating());
        assertEquals("driver", c.getPlacement());
        // Spark sees every param through reflection (needed by ParamGridBuilder, persistence, explainParams)
        assertTrue(Arrays.stream(c.params()).map(Param::name).toList().containsAll(
                Arrays.asList("numExperts", "k", "gating", "numGroups", "wImportance", "wLoad", "routing", "placement",
                        "probabilityCol", "rawPredictionCol", "expertsCol", "initialModelPath")));
        assertTrue(Arrays.stream(new MoERegressor().params()).map(Param::name).noneMatch(n -> n.equals("probabilityCol")));
        assertTrue(c.explainParams().contains("numExperts"));
    }

    @Test
    void badRowsAndLabelsAreReportedAtFit() {
        Dataset<Row> data = MlTestData.frame(50, 1, false, 1);
        // regression labels like 2.7 are not class indices
        assertMessage(assertThrows(Exception.class, () -> new MoEClassifier().setMaxSteps(1).fit(data)), "label", "class ind");
    }
}
