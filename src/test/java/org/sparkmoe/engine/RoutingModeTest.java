package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** AUTO routing: local for a small model on the driver, shuffle otherwise; explicit routings stay. */
class RoutingModeTest {
    private static long expertSize(int d, int h) {
        return 2L * d * h + d + h;
    }

    @Test
    void theSmallClassifierOfConfiguration4RoutesLocally() {
        // d = 64, n = 16, h = 64, k = 2, B = 16384, P = 4: 0.67M expert floats against 2.1M row floats
        assertEquals(RoutingMode.LOCAL, RoutingMode.AUTO.resolve(ExpertPlacement.DRIVER, 4, 16, expertSize(64, 64), 2, 16384, 64));
        assertEquals(RoutingMode.SHUFFLE, RoutingMode.AUTO.resolve(ExpertPlacement.SHARDED, 4, 16, expertSize(64, 64), 2, 16384, 64));
    }

    @Test
    void thePaperShapeAndSmallBatchesShuffle() {
        assertEquals(RoutingMode.SHUFFLE, RoutingMode.AUTO.resolve(ExpertPlacement.DRIVER, 4, 64, expertSize(512, 1024), 4, 16384, 512));
        // the job's defaults: d = 32, n = 8, h = 64, k = 2, B = 512
        assertEquals(RoutingMode.SHUFFLE, RoutingMode.AUTO.resolve(ExpertPlacement.DRIVER, 4, 8, expertSize(32, 64), 2, 512, 32));
        // the boundary: (P + 1) n |theta_e| = k B d routes locally, one more partition does not
        assertEquals(RoutingMode.LOCAL, RoutingMode.AUTO.resolve(ExpertPlacement.DRIVER, 3, 2, 64, 2, 128, 2));
        assertEquals(RoutingMode.SHUFFLE, RoutingMode.AUTO.resolve(ExpertPlacement.DRIVER, 4, 2, 64, 2, 128, 2));
    }

    @Test
    void explicitRoutingsAreKept() {
        assertEquals(RoutingMode.SHUFFLE, RoutingMode.SHUFFLE.resolve(ExpertPlacement.DRIVER, 4, 16, expertSize(64, 64), 2, 16384, 64));
        assertEquals(RoutingMode.LOCAL, RoutingMode.LOCAL.resolve(ExpertPlacement.SHARDED, 4, 64, expertSize(512, 1024), 4, 16384, 512));
    }
}
