package org.sparkmoe.bench;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What a step's shuffle files cost the kernel when they outlive the step, without Spark: each cycle
 * writes {@code mb} MB as 32 MB files (as a step's map tasks do), deletes the files of the cycle
 * {@code keep} cycles back, and pauses {@code pauseMs} (the rest of a step). It prints each cycle's
 * thread CPU (user and kernel: the write calls' page-cache work is kernel time) and the machine's page
 * cache, for {@code keep} = each value given.
 *
 * <p>With {@code keep=1} the page cache stays flat: each cycle writes into pages the previous cycle's
 * deleted files freed a moment before. With {@code keep=10} it grows by {@code mb} a cycle until the
 * deletions start: on a machine whose kernel hands free memory back to its host (a VM with free page
 * reporting), each fresh page is first faulted back in from the host, and the same writes cost several
 * times the kernel CPU (BENCHMARKS.md, session 12).
 *
 * <pre>
 *   java -cp target/test-classes org.sparkmoe.bench.PageCacheProbe dir=/tmp/pcprobe keep=1,10 cycles=14 mb=512 pauseMs=1500
 * </pre>
 */
public final class PageCacheProbe {
    private PageCacheProbe() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        BenchArgs a = new BenchArgs(args);
        Path dir = Path.of(a.string("dir", "/tmp/pcprobe"));
        int cycles = a.integer("cycles", 14);
        int mb = a.integer("mb", 512);
        long pauseMs = a.integer("pauseMs", 1500);
        int fileMb = 32;
        Files.createDirectories(dir);
        ThreadMXBean tm = ManagementFactory.getThreadMXBean();
        byte[] buf = new byte[1 << 20];
        java.util.Arrays.fill(buf, (byte) 7);
        System.out.printf(Locale.ROOT, "page cache probe: %d MB a cycle in %d MB files, pause %d ms; load average %s%n",
                mb, fileMb, pauseMs, EngineBenchmark.loadAverage());
        for (int keep : a.integers("keep", "1,10")) {
            for (int c = 0; c < cycles; c++) {
                long cpu0 = tm.getCurrentThreadCpuTime();
                long user0 = tm.getCurrentThreadUserTime();
                long t0 = System.nanoTime();
                for (int f = 0; f < mb / fileMb; f++) {
                    try (OutputStream out = Files.newOutputStream(dir.resolve("c" + c + "_" + f))) {
                        for (int i = 0; i < fileMb; i++) out.write(buf);
                    }
                }
                if (c >= keep) {
                    for (int f = 0; f < mb / fileMb; f++) Files.deleteIfExists(dir.resolve("c" + (c - keep) + "_" + f));
                }
                double wall = (System.nanoTime() - t0) / 1e9;
                double cpu = (tm.getCurrentThreadCpuTime() - cpu0) / 1e9;
                double user = (tm.getCurrentThreadUserTime() - user0) / 1e9;
                System.out.printf(Locale.ROOT, "keep %2d cycle %2d: %.3f s wall, CPU %.3f s (kernel %.3f s), page cache %,d MB%n",
                        keep, c, wall, cpu, cpu - user, EngineBenchmark.pageCacheKb() / 1024);
                Thread.sleep(pauseMs);
            }
            for (int c = 0; c < cycles; c++) {
                for (int f = 0; f < mb / fileMb; f++) Files.deleteIfExists(dir.resolve("c" + c + "_" + f));
            }
            Thread.sleep(3000); // the freed pages go back to the host before the next setting starts
        }
    }
}
