package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;

import org.junit.jupiter.api.Test;

class HeapRegionAdviceTest {
    private static final long MB = 1L << 20;
    /** The paper's expert, d = 512, h = 1024, in float32: 2dh + d + h values. */
    private static final long PAPER_EXPERT = 4L * (2 * 512 * 1024 + 512 + 1024);

    @Test
    void paperExpertInFourMegabyteRegionsIsHumongousAndSixteenIsAdvised() {
        String w = HeapRegionAdvice.warning(PAPER_EXPERT, 4 * MB).orElseThrow();
        assertTrue(w.contains("4.2 MB"), w);
        assertTrue(w.contains("in 2 whole region(s)"), w);
        assertTrue(w.contains("-XX:G1HeapRegionSize=16m"), w);
    }

    @Test
    void vectorsUnderHalfARegionOrNoG1NeedNoWarning() {
        assertTrue(HeapRegionAdvice.warning(PAPER_EXPERT, 16 * MB).isEmpty());
        assertTrue(HeapRegionAdvice.warning(PAPER_EXPERT, 0).isEmpty());
        assertTrue(HeapRegionAdvice.warning(4 * MB, 8 * MB).isPresent(), "exactly half a region is humongous");
    }

    @Test
    void vectorsNoRegionCanHoldAreCountedInWholeRegions() {
        String w = HeapRegionAdvice.warning(40 * MB, 32 * MB).orElseThrow();
        assertTrue(w.contains("no G1 region size"), w);
        assertTrue(w.contains(Long.toString(64 * MB)), w);
    }

    /** The tests (and benchmarks, job scripts) run with pom.xml's spark.jvm.args, which set 16 MB regions. */
    @Test
    void thisJvmRunsSixteenMegabyteRegions() {
        assertTrue(ManagementFactory.getRuntimeMXBean().getInputArguments().contains("-XX:G1HeapRegionSize=16m"));
        assertEquals(16 * MB, HeapRegionAdvice.g1RegionBytes());
    }
}
