package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sparkmoe.engine.ShufflePayload;
import org.sparkmoe.ml.MoERegressor;

/** The bfloat16 shuffle payload is reachable from the job key and the ML param, and defaults to float32. */
class ShufflePayloadSettingTest {

    @Test
    void jobKeyAndParamReachTheEngine() {
        assertEquals(ShufflePayload.F32, MoEConfig.builder().build().engineConfig().shufflePayload());
        assertEquals(ShufflePayload.BF16, MoEConfig.builder().face(Setting.Face.JOB).set(Settings.SHUFFLE_PAYLOAD, "bf16").build()
                .engineConfig().shufflePayload());
        assertEquals("engine.shufflePayload", Settings.SHUFFLE_PAYLOAD.jobKey());
        MoERegressor r = new MoERegressor();
        assertEquals("f32", r.getShufflePayload());
        assertEquals("bf16", r.setShufflePayload("bf16").getShufflePayload());
        MoEConfig.InvalidConfigException e = assertThrows(MoEConfig.InvalidConfigException.class,
                () -> MoEConfig.builder().face(Setting.Face.JOB).set(Settings.SHUFFLE_PAYLOAD, "fp8"));
        assertTrue(e.getMessage().contains("engine.shufflePayload"), e.getMessage());
    }
}
