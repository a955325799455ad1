package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The batch plan's data-sized batch (batch size 0) and its split over the partitions. */
class BatchPlanTest {

    @Test
    void theDataSizedBatchIsTheExamplesOver64InMultiplesOf512Within512And16384() {
        assertEquals(512, BatchPlan.dataSized(100));
        assertEquals(512, BatchPlan.dataSized(36_000));
        assertEquals(1024, BatchPlan.dataSized(64 * 1024));
        assertEquals(1536, BatchPlan.dataSized(100_000)); // the 100k-row classifier of issue 9 (80k training rows: 1024)
        assertEquals(15872, BatchPlan.dataSized(1_016_000));
        assertEquals(16384, BatchPlan.dataSized(100_000_000));
    }

    @Test
    void batchSizeZeroIsResolvedFromThePartitionSizes() {
        long[] sizes = {300_000, 200_000, 100_000};
        BatchPlan plan = new BatchPlan(1, BatchPlan.DATA_SIZED, sizes);
        assertEquals(9216, plan.batchSize()); // 600000 / 64 = 9375 -> 9216
        assertEquals(600_000, plan.examples());
        assertEquals(plan.batchSize(), plan.rowsPerStep(0) + plan.rowsPerStep(1) + plan.rowsPerStep(2));
        assertEquals(600_000 / 9216, plan.stepsPerEpoch());
        // a given batch is used as it is, however big the data
        assertEquals(512, new BatchPlan(1, 512, sizes).batchSize());
    }

    @Test
    void dataSmallerThanTheDataSizedMinimumSaysSo() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BatchPlan(1, BatchPlan.DATA_SIZED, new long[]{200, 100}));
        assertTrue(e.getMessage().contains("300 examples, fewer than one batch of 512 (the data-sized batch's minimum)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new BatchPlan(1, -1, new long[]{1000}));
        assertEquals(300, new BatchPlan(1, 300, new long[]{200, 100}).batchSize());
    }

    @Test
    void theEngineConfigTakesZeroAsDataSized() {
        EngineConfig c = EngineConfig.of(RoutingMode.AUTO, ExpertPlacement.DRIVER, 2, BatchPlan.DATA_SIZED,
                org.sparkmoe.core.train.TrainerConfig.paperDefaults(0.01, 10, 1));
        assertEquals(0, c.batchSize());
        assertEquals(4096, c.withBatchSize(4096).batchSize());
        assertThrows(IllegalArgumentException.class, () -> c.withBatchSize(-1));
    }
}
