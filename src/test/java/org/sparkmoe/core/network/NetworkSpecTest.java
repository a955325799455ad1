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
        NetworkSpec hier = new NetworkSpec(NetworkSpec.Task.CLASSIFICATION, 5, 0, 0, 0, null, 8, 3,
                NetworkSpec.GatingType.HIERARCHICAL, 0, 0, 4, 3, 2, 2, 16, true, 0.1, 0.1);
        assertEquals(hier, NetworkSpec.fromMap(hier.toMap()));
        assertEquals(12, hier.build().numExperts());
        assertEquals(4, hier.activeExperts());
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
