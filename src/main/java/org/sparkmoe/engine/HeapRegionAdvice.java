package org.sparkmoe.engine;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.Parameters;

/**
 * One warning per JVM when the experts' vectors are G1 "humongous" objects. G1 stores an object of
 * half a heap region or more in whole regions of its own, and sizes regions from the heap (2 MB
 * at 4 GB, 4 MB at 5-8 GB): at the paper's expert shape (d = 512, h = 1024) an expert's parameter
 * vector, each of Adam's moments and its gradient are 4.2 MB each, and at -Xmx8g each took 8 MB of
 * heap (840 MB of such vectors used 1,678 MB; BENCHMARKS.md, "Session-11 experts at n = 256"), twice
 * what the sizing rule counts. {@code -XX:G1HeapRegionSize=16m} (pom.xml's JVM flags,
 * conf/spark-defaults.conf) keeps vectors up to 8 MB out of that.
 */
final class HeapRegionAdvice {
    private static final Logger LOG = LoggerFactory.getLogger(HeapRegionAdvice.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private HeapRegionAdvice() {
    }

    /**
     * The warning for a vector of {@code vectorBytes} in a heap of G1 regions of {@code regionBytes}
     * (0 when the collector is not G1); empty when the vector is under half a region.
     */
    static Optional<String> warning(long vectorBytes, long regionBytes) {
        if (regionBytes <= 0 || 2 * vectorBytes < regionBytes) return Optional.empty();
        long regions = (vectorBytes + regionBytes - 1) / regionBytes;
        long suggest = Long.highestOneBit(2 * vectorBytes) << 1; // a region over twice the vector
        String fix = suggest <= (32L << 20)
                ? "start the JVMs with -XX:G1HeapRegionSize=" + (suggest >> 20) + "m (or more; conf/spark-defaults.conf sets 16m for executors)"
                : "no G1 region size (32 MB at most) holds them: count " + regions * regionBytes + " bytes a vector in the sizing rule";
        return Optional.of(String.format("spark-moe: each expert's parameter, moment and gradient vector is %.1f MB, half a G1 heap region (%d MB) "
                        + "or more, so G1 stores each in %d whole region(s) of its own (%.1f MB a vector, %.0f%% more than its data, "
                        + "beyond README's sizing rule); %s",
                vectorBytes / 1e6, regionBytes >> 20, regions, regions * regionBytes / 1e6,
                100.0 * (regions * regionBytes - vectorBytes) / vectorBytes, fix));
    }

    /** Logs {@link #warning} for an expert's vectors ({@code expert}'s size and precision) in this JVM's heap, once per JVM. */
    static void check(Parameters expert) {
        if (WARNED.get()) return;
        long vectorBytes = (long) expert.layout().size() * (expert.precision() == Precision.F32 ? Float.BYTES : Double.BYTES);
        warning(vectorBytes, Region.BYTES).ifPresent(w -> {
            if (WARNED.compareAndSet(false, true)) LOG.warn(w);
        });
    }

    /** This JVM's region size, read once: {@link #check} runs in every shard's forward task, every step. */
    private static final class Region {
        static final long BYTES = g1RegionBytes();
    }

    /** This JVM's G1 region size, or 0 when it does not run G1. */
    static long g1RegionBytes() {
        boolean g1 = false;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) g1 |= gc.getName().startsWith("G1");
        if (!g1) return 0;
        try {
            var hs = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Long.parseLong(hs.getVMOption("G1HeapRegionSize").getValue());
        } catch (RuntimeException e) {
            return 0; // not HotSpot: nothing to say
        }
    }
}
