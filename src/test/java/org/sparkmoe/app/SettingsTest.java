package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.junit.jupiter.api.Test;
import org.sparkmoe.job.JobConfig;
import org.sparkmoe.ml.MoEClassifier;
import org.sparkmoe.ml.MoELanguageModelEstimator;
import org.sparkmoe.ml.MoEPerplexityEvaluator;
import org.sparkmoe.ml.MoERegressor;

/**
 * One vocabulary: the job's reference file and the ML params (the estimators' and the evaluator's)
 * come from the one declaration ({@link Settings}); the PySpark wrappers are generated from the ML
 * params ({@code org.sparkmoe.ml.PySparkWrappersTest}). {@code -Dsettings.write=true} rewrites the
 * reference file from it instead of checking it.
 */
class SettingsTest {
    static final Path REFERENCE = Path.of("conf/moe-job.properties");

    @Test
    void generatedFilesAreWhatTheDeclarationProduces() throws Exception {
        if (Boolean.getBoolean("settings.write")) {
            Files.writeString(REFERENCE, Settings.reference());
        }
        assertEquals(Settings.reference(), Files.readString(REFERENCE),
                REFERENCE + " is not what org.sparkmoe.app.Settings declares; rerun with -Dsettings.write=true");
    }

    @Test
    void theEvaluatorsParamsAreDeclared() {
        MoEPerplexityEvaluator e = new MoEPerplexityEvaluator();
        assertEquals(Settings.evaluatorParams().stream().map(Setting::name).toList(),
                java.util.Arrays.stream(e.params()).map(Param::name).toList());
        for (Param<?> p : e.params()) {
            Setting s = Settings.evaluatorParams().stream().filter(d -> d.name().equals(p.name())).findFirst().orElseThrow();
            assertEquals(s.doc(Setting.Face.ML), p.doc(), p.name());
            assertEquals(s.defaultObject(), e.getDefault(p).get(), p.name());
        }
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> e.setNumTargetsCol(""));
        assertTrue(Settings.find("logLikelihoodCol").doc(Setting.Face.ML).contains("empty = not produced"), "the model's own param");
    }

    /** Params the classifier and regressor inherit from MLlib's base classes. */
    static final java.util.Set<String> MLLIB_SHARED = java.util.Set.of("featuresCol", "labelCol", "predictionCol", "probabilityCol",
            "rawPredictionCol", "thresholds");

    @Test
    void everyParamHasTheDeclaredNameDocAndDefault() {
        int shared = 0;
        for (Params stage : List.of(new MoEClassifier(), new MoERegressor(), new MoELanguageModelEstimator())) {
            for (Param<?> p : stage.params()) {
                Setting s = Settings.find(p.name());
                Object declared = stage.getDefault(p).isDefined() ? stage.getDefault(p).get() : null;
                if (!(stage instanceof MoELanguageModelEstimator) && MLLIB_SHARED.contains(p.name())) {
                    // MLlib's base classes (ProbabilisticClassifier, Regressor) declare these, with MLlib's docs
                    if (s != null) assertEquals(s.defaultObject(), declared, stage.getClass().getSimpleName() + "." + p.name() + " default");
                    continue;
                }
                assertNotNull(s, stage.getClass().getSimpleName() + "." + p.name() + " is not declared in Settings");
                assertTrue(s.param(), p.name());
                assertEquals(s.doc(Setting.Face.ML), p.doc(), p.name());
                boolean lmPrediction = stage instanceof MoELanguageModelEstimator && p.name().equals("predictionCol");
                assertEquals(lmPrediction ? "" : s.defaultObject(), declared, stage.getClass().getSimpleName() + "." + p.name() + " default");
                if (s.jobKey() != null) {
                    shared++;
                    // one name modulo case style: the job key is group.name, or the name with its dot dropped
                    String k = s.jobKey();
                    String tail = k.substring(k.indexOf('.') + 1);
                    String camel = k.substring(0, k.indexOf('.')) + Character.toUpperCase(tail.charAt(0)) + tail.substring(1);
                    assertTrue(tail.equals(p.name()) || camel.equals(p.name()), k + " vs param " + p.name());
                    assertEquals(s.defaultValue(), JobConfig.defaults().get(k), k);
                }
            }
        }
        assertTrue(shared > 20, "settings shared by the job and the params: " + shared);
    }

    @Test
    void oldJobKeysAreAcceptedWithADeprecationMessage() {
        JobConfig c = JobConfig.fromArgs(List.of("model.experts=16", "optim.learningRate=0.02", "optim.steps=7",
                "model.expertHidden=12", "model.groups=3"));
        assertEquals(16, c.integer("model.numExperts"));
        assertEquals(0.02, c.number("optim.stepSize"));
        assertEquals(7, c.longValue("optim.maxSteps"));
        assertEquals(12, c.networkSpec(10, 0, 0).expertHidden());
        assertEquals(3, c.integer("model.numGroups"));
        assertEquals(5, c.deprecations().size(), c.deprecations().toString());
        assertTrue(c.deprecations().get(0).contains("'model.experts'") && c.deprecations().get(0).contains("'model.numExperts'"));
        assertTrue(JobConfig.fromArgs(List.of("model.numExperts=16")).deprecations().isEmpty());
    }

    @Test
    void valuesMatchModuloCaseStyleOnBothFaces() {
        assertEquals("noisyTopK", JobConfig.fromArgs(List.of("model.gating=noisy_top_k")).typed().string(Settings.GATING));
        MoEClassifier c = new MoEClassifier().setGating("noisy_top_k").setNumExperts(4).setK(2);
        assertEquals(5, c.transformSchema(new org.apache.spark.sql.types.StructType()
                .add("features", new org.apache.spark.ml.linalg.VectorUDT()).add("label", "double")).size());
        assertEquals(org.sparkmoe.core.network.NetworkSpec.GatingType.NOISY_TOP_K,
                MoEConfig.builder().set(Settings.GATING, "NOISY_TOP_K").build().gating());
        assertFalse(Settings.GATING.accepts("dense"));
    }

    @Test
    void oneValidateGivesMessagesInEachFacesVocabulary() {
        MoEConfig.Builder b = MoEConfig.builder().set(Settings.NUM_EXPERTS, 4).set(Settings.K, 5);
        var ml = org.junit.jupiter.api.Assertions.assertThrows(MoEConfig.InvalidConfigException.class, b::build);
        assertEquals("param k (5) must be <= numExperts (4)", ml.getMessage());
        var job = org.junit.jupiter.api.Assertions.assertThrows(MoEConfig.InvalidConfigException.class,
                () -> b.face(Setting.Face.JOB).build());
        assertEquals("config key 'model.k' = '5' must be <= model.numExperts (4)", job.getMessage());
        Map<String, String> d = JobConfig.defaults();
        assertEquals(Settings.jobKeys(), List.copyOf(d.keySet()));
    }

    /** vocabularySize: 0 (the default) is automatic, by data; 1 and 2 leave no room for a word. */
    @Test
    void anAutomaticVocabularySizeDependsOnTheData() {
        assertEquals(0, MoEConfig.builder().build().integer(Settings.VOCABULARY_SIZE));
        assertEquals(Settings.TEXT_VOCABULARY, Settings.vocabularySize(0, false));
        assertEquals(Settings.BUILT_IN_VOCABULARY, Settings.vocabularySize(0, true));
        assertEquals(256, Settings.vocabularySize(256, true));
        assertEquals(500, Settings.vocabularySize(500, false));
        MoEConfig.Builder b = MoEConfig.builder().set(Settings.VOCABULARY_SIZE, 2);
        var ml = org.junit.jupiter.api.Assertions.assertThrows(MoEConfig.InvalidConfigException.class, b::build);
        assertEquals("param vocabularySize (2) is not allowed: expected " + Settings.VOCABULARY_SIZE.allowed(), ml.getMessage());
        var job = org.junit.jupiter.api.Assertions.assertThrows(MoEConfig.InvalidConfigException.class,
                () -> b.face(Setting.Face.JOB).build());
        assertEquals("config key 'model.vocabularySize' = '2' is not allowed: expected " + Settings.VOCABULARY_SIZE.allowed(),
                job.getMessage());
        assertFalse(Settings.VOCABULARY_SIZE.accepts("-1"));
    }
}
