package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

class NetworkSpecTest {

    @Test
    void roundTripsThroughItsMapAndBuildsTheNetwork() {
        NetworkSpec lm = NetworkSpec.languageModel(50, 3, 8, 16, 8, 2, 32, 0.1, 0.1);
        assertEquals(lm, NetworkSpec.fromMap(lm.toMap()));
        MoENetwork net = lm.build();
        assertEquals(8, net.numExperts());
        assertEquals(1, lm.denseBaseline().numExperts());
        NetworkSpec hier = NetworkSpec.builder(NetworkSpec.Task.CLASSIFICATION).inputDim(5).modelDim(8).outputs(3)
                .gating(NetworkSpec.GatingType.HIERARCHICAL).groups(4).expertsPerGroup(3).kPrimary(2).kSecondary(2).expertHidden(16)
                .residual(true).wImportance(0.1).wLoad(0.1).build();
        assertEquals(hier, NetworkSpec.fromMap(hier.toMap()));
        assertEquals(12, hier.build().numExperts());
        assertEquals(4, hier.activeExperts());
    }

    @Test
    void theBuilderKeepsOnlyWhatTheTaskAndGatingUse() {
        NetworkSpec.Builder b = NetworkSpec.builder(NetworkSpec.Task.CLASSIFICATION).inputDim(5).modelDim(8).outputs(3)
                .gating(NetworkSpec.GatingType.HIERARCHICAL).groups(4).expertsPerGroup(3).kPrimary(2).kSecondary(2).expertHidden(16)
                .wImportance(0.1).wLoad(0.1);
        NetworkSpec clean = b.build();
        // flat-gating and language-model settings left over from another configuration do not make a different network
        NetworkSpec stray = b.experts(99).k(7).vocabulary(50).context(3).embeddingDim(4).build();
        assertEquals(clean, stray);
        assertEquals(0, stray.experts());
        assertEquals(0, stray.k());
        assertEquals(0, stray.vocabulary());
        assertEquals(null, stray.combine());
        // a language model's outputs are its vocabulary, whatever outputs says
        NetworkSpec lm = NetworkSpec.builder(NetworkSpec.Task.LANGUAGE_MODEL).vocabulary(50).context(3).embeddingDim(8).modelDim(16)
                .outputs(7).inputDim(9).experts(8).k(2).expertHidden(32).build();
        assertEquals(50, lm.outputs());
        assertEquals(0, lm.inputDim());
        assertEquals(NetworkSpec.languageModel(50, 3, 8, 16, 8, 2, 32, 0, 0), lm);
    }

    @Test
    void invalidSettingsNameTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NetworkSpec.features(NetworkSpec.Task.REGRESSION, 4, 1, 8, 4, 5, 8, 0.1, 0.1));
        assertTrue(e.getMessage().contains("'k'") && e.getMessage().contains("got 5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NetworkSpec.features(NetworkSpec.Task.REGRESSION, 4, 1, 8, 4, 0, 8, 0.1, 0.1));
        assertTrue(e.getMessage().contains("'k'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NetworkSpec.features(NetworkSpec.Task.REGRESSION, 0, 1, 8, 4, 2, 8, 0.1, 0.1));
        assertTrue(e.getMessage().contains("'inputDim'"), e.getMessage());
        Map<String, String> m = new java.util.HashMap<>(NetworkSpec.languageModel(50, 3, 8, 16, 8, 2, 32, 0.1, 0.1).toMap());
        m.put("experts", "many");
        e = assertThrows(IllegalArgumentException.class, () -> NetworkSpec.fromMap(m));
        assertTrue(e.getMessage().contains("'experts'") && e.getMessage().contains("many"), e.getMessage());
        m.remove("experts");
        e = assertThrows(IllegalArgumentException.class, () -> NetworkSpec.fromMap(m));
        assertTrue(e.getMessage().contains("missing 'experts'"), e.getMessage());
    }
}
