package org.sparkmoe.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.engine.ExpertPlacement;

class JobConfigTest {

    @Test
    void shippedFileDocumentsEveryKnownKeyWithAValidDefault() throws Exception {
        Map<String, String> d = JobConfig.defaults();
        assertEquals(JobConfig.knownKeys(), d.keySet());
        JobConfig c = JobConfig.defaultConfig();
        assertEquals("lm", c.string("task"));
        assertEquals(8, c.integer("model.numExperts"));
        // every key has a comment block above it in the source file
        List<String> lines = Files.readAllLines(Path.of("conf/moe-job.properties"));
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.isBlank() || l.startsWith("#")) continue;
            assertTrue(i > 0 && lines.get(i - 1).startsWith("#"), "key line without a comment above: " + l);
        }
    }

    @Test
    void overridesApplyInOrder(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("my.properties");
        Files.writeString(f, "model.numExperts = 16\nmodel.k = 4\nengine.placement = sharded\n");
        JobConfig c = JobConfig.fromArgs(List.of("--config", f.toString(), "model.k=3", "--conf", "optim.maxSteps=7",
                "--engine.batchSize=64"));
        assertEquals(16, c.integer("model.numExperts"));
        assertEquals(3, c.integer("model.k"));
        assertEquals(7, c.longValue("optim.maxSteps"));
        assertEquals(64, c.engineConfig().batchSize());
        assertEquals(ExpertPlacement.SHARDED, c.engineConfig().placement());
        NetworkSpec s = c.networkSpec(50, 0, 0);
        assertEquals(16, s.experts());
        assertEquals(50, s.vocabulary());
    }

    @Test
    void unknownKeyIsAnErrorWithASuggestion() {
        var e = assertThrows(JobConfig.ConfigException.class, () -> JobConfig.fromArgs(List.of("model.expert=4")));
        assertTrue(e.getMessage().contains("'model.expert'"), e.getMessage());
        assertTrue(e.getMessage().contains("did you mean 'model.numExperts'"), e.getMessage());
        var e2 = assertThrows(JobConfig.ConfigException.class, () -> JobConfig.fromArgs(List.of("learningRate=1")));
        assertTrue(e2.getMessage().contains("optim.stepSize"), e2.getMessage());
        assertThrows(JobConfig.ConfigException.class, () -> JobConfig.fromArgs(List.of("notakeyvalue")));
        assertThrows(JobConfig.ConfigException.class, () -> JobConfig.fromArgs(List.of("--config", "/no/such/file")));
    }

    @Test
    void malformedValuesNameKeyAndValue() {
        String[][] bad = {
            {"model.numExperts=abc", "model.numExperts", "abc"},
            {"model.k=0", "model.k", "0"},
            {"model.k=9", "model.k", "9"},
            {"model.expertHiddenSize=-3", "model.expertHiddenSize", "-3"},
            {"engine.batchSize=-1", "engine.batchSize", "-1"},
            {"model.vocabularySize=2", "model.vocabularySize", "2"},
            {"heldout.fraction=1.5", "heldout.fraction", "1.5"},
            {"task=clustering", "task", "clustering"},
            {"optim.stepSize=NaN", "optim.stepSize", "NaN"},
            {"engine.expertShards=9", "engine.expertShards", "9"},
        };
        for (String[] b : bad) {
            var e = assertThrows(JobConfig.ConfigException.class, () -> JobConfig.fromArgs(List.of(b[0])), b[0]);
            assertTrue(e.getMessage().contains("'" + b[1] + "'") && e.getMessage().contains(b[2]), e.getMessage());
        }
    }

    @Test
    void brownTagsAreStripped() {
        assertEquals("The Fulton County jury said . ''", JobData.stripTags("The/at Fulton/np-tl County/nn-tl jury/nn said/vbd ./. ''/''"));
    }

    @Test
    void hierarchicalChecksGroupsAndDropsFlatK() {
        JobConfig c = JobConfig.fromArgs(List.of("model.gating=hierarchical", "model.k=99", "model.numGroups=2",
                "model.expertsPerGroup=3", "model.kPrimary=1", "model.kSecondary=2"));
        NetworkSpec s = c.networkSpec(40, 0, 0);
        assertEquals(6, s.numExperts());
        assertThrows(JobConfig.ConfigException.class, () -> JobConfig.fromArgs(List.of("model.gating=hierarchical",
                "model.numGroups=2", "model.kPrimary=3")));
    }

    @Test
    void givenKeysAreTold() {
        assertTrue(JobConfig.fromArgs(List.of("engine.batchSize=512")).given("engine.batchSize"), "given at its default value");
        org.junit.jupiter.api.Assertions.assertFalse(JobConfig.fromArgs(List.of("model.k=2")).given("engine.batchSize"));
        assertTrue(JobConfig.fromArgs(List.of()).with("engine.batchSize", "1024").given("engine.batchSize"));
    }
}
