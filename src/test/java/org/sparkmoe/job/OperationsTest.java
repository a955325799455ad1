package org.sparkmoe.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.job.MoEJobTest.JSON;
import static org.sparkmoe.job.MoEJobTest.TINY_LM;
import static org.sparkmoe.job.MoEJobTest.job;
import static org.sparkmoe.job.MoEJobTest.visible;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.app.RunLock;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.checkpoint.FullDiskFileSystem;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Issue 11's operator cases through the job's command line, in process: retrain dates and rollback
 * (1), corrupt models (2), full disks (3), bad input and output directories (4), locks (5), LATEST
 * edited by hand (7), out-of-vocabulary data (8), configuration errors before Spark (9), and Spark's
 * checkpoint directory.
 */
class OperationsTest {
    static List<String> with(List<String> base, String... more) {
        List<String> l = new ArrayList<>(base);
        l.addAll(Arrays.asList(more));
        return l;
    }

    static String latest(Path root) throws Exception {
        return Files.readString(root.resolve("LATEST")).trim();
    }

    /** A failure the job understood: one short message, no stack trace. */
    static void assertShort(MoEJobTest.Run r) {
        assertFalse(r.out().contains("\tat "), "a stack trace:\n" + r.out());
    }

    // ------------------------------------------------------------------ case 1

    @Test
    void retrainDatesOnlyMoveForwardUnlessForcedAndRollbackMovesLatest(@TempDir Path tmp) throws Exception {
        Path root = tmp.resolve("pub");
        List<String> base = with(TINY_LM, "retrain.root=" + root, "charts.enabled=false", "optim.maxSteps=2");
        assertEquals(0, job("retrain", base, "retrain.date=2026-11-28").code());

        MoEJobTest.Run back = job("retrain", base, "retrain.date=2026-11-26");
        assertEquals(2, back.code(), back.out());
        assertTrue(back.out().contains("retrain.force") && back.out().contains("v-2026-11-28"), back.out());
        assertShort(back);
        assertEquals("v-2026-11-28", latest(root));
        assertFalse(Files.exists(root.resolve("v-2026-11-26")));

        // a forced backfill: no version before it, so a cold start; LATEST moves back, as forced
        MoEJobTest.Run forced = job("retrain", base, "retrain.date=2026-11-26", "retrain.force=true");
        assertEquals(0, forced.code(), forced.out());
        assertTrue(forced.out().contains("cold start"), forced.out());
        assertEquals("v-2026-11-26", latest(root));
        assertEquals("v-2026-11-26", JSON.readTree(root.resolve("v-2026-11-26/spec.json").toFile()).get("provenance").get("version").asText());

        // the newer version's date again: published, newer than LATEST -> LATEST forward (a crash between publish and LATEST)
        assertEquals(0, job("retrain", base, "retrain.date=2026-11-28").code());
        assertEquals("v-2026-11-28", latest(root));

        // rollback: a command, not an edit
        MoEJobTest.Run missing = job("rollback", List.of(), "retrain.root=" + root, "rollback.to=2026-11-27");
        assertEquals(2, missing.code(), missing.out());
        assertTrue(missing.out().contains("v-2026-11-27") && missing.out().contains("v-2026-11-26"), missing.out());
        MoEJobTest.Run rb = job("rollback", List.of(), "retrain.root=" + root, "rollback.to=v-2026-11-26");
        assertEquals(0, rb.code(), rb.out());
        assertEquals("v-2026-11-26", latest(root));
        assertEquals("v-2026-11-28", Files.readString(root.resolve("WITHDRAWN")).trim());
        // rerunning the withdrawn date leaves the rollback alone
        MoEJobTest.Run rerun = job("retrain", base, "retrain.date=2026-11-28");
        assertEquals(0, rerun.code(), rerun.out());
        assertTrue(rerun.out().contains("withdrawn"), rerun.out());
        assertEquals("v-2026-11-26", latest(root));
        // the next date moves forward from the rolled-back model
        MoEJobTest.Run next = job("retrain", base, "retrain.date=2026-11-29");
        assertEquals(0, next.code(), next.out());
        assertTrue(next.out().contains("warm start from") && next.out().contains("v-2026-11-26 (step"), next.out());
        assertEquals("v-2026-11-29", latest(root));
        assertEquals(List.of("LATEST", "WITHDRAWN", "v-2026-11-26", "v-2026-11-28", "v-2026-11-29"), visible(root));
    }

    // ------------------------------------------------------------------ case 2

    @Test
    void evaluateRefusesGarbageParametersNamingTheFile(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        assertEquals(0, job("train", with(TINY_LM, "charts.enabled=false", "optim.maxSteps=2"), "output.dir=" + out).code());
        Path params;
        try (Stream<Path> s = Files.walk(out.resolve("model/parameters"))) {
            params = s.filter(p -> Files.isRegularFile(p) && !p.getFileName().toString().startsWith(".")
                    && !p.getFileName().toString().endsWith(".json")).max((a, b) -> Long.compare(a.toFile().length(), b.toFile().length()))
                    .orElseThrow();
        }
        // as on an object store: 4 KB (or what there is) of 0xFF, no checksum file
        long len = params.toFile().length();
        int from = (int) Math.min(64, len / 2);
        byte[] ff = new byte[(int) Math.min(4096, len - from)];
        Arrays.fill(ff, (byte) 0xFF);
        try (RandomAccessFile f = new RandomAccessFile(params.toFile(), "rw")) {
            f.seek(from);
            f.write(ff);
        }
        Files.deleteIfExists(params.resolveSibling("." + params.getFileName() + ".crc"));
        MoEJobTest.Run ev = job("evaluate", List.of(), "job.model=" + out, "evaluate.output=" + tmp.resolve("eval.json"));
        assertEquals(2, ev.code(), ev.out());
        assertTrue(ev.out().contains(params.getFileName().toString()), ev.out());
        assertShort(ev);
        assertFalse(Files.exists(tmp.resolve("eval.json")));
        assertFalse(ev.out().contains("null"), ev.out());
    }

    // ------------------------------------------------------------------ case 3

    @Test
    void aFullDiskNamesThePathAndTheRerunRecovers(@TempDir Path tmp) throws Exception {
        JavaSparkContext sc = SparkTestContext.get();
        Configuration conf = sc.hadoopConfiguration();
        List<String> args = with(TINY_LM, "optim.maxSteps=3");
        long total;
        try {
            FullDiskFileSystem.share(conf, Long.MAX_VALUE);
            assertEquals(0, job("train", args, "output.dir=" + tmp.resolve("sizing")).code());
            total = FullDiskFileSystem.SHARED.get();
        } finally {
            FullDiskFileSystem.unshare(conf);
        }
        assertTrue(total > 1000, "bytes written by a run: " + total);
        // the disk fills at different points of the run: early (spec, metrics), checkpoints, the model and its charts
        int failures = 0;
        for (double at : new double[] {0.05, 0.5, 0.95}) {
            Path out = tmp.resolve("full-" + (int) (100 * at));
            MoEJobTest.Run r;
            try {
                FullDiskFileSystem.share(conf, (long) (at * total));
                r = job("train", args, "output.dir=" + out);
            } finally {
                FullDiskFileSystem.unshare(conf);
            }
            if (r.code() == 0) continue; // what it writes varies a little (timings in JSON)
            failures++;
            assertEquals(1, r.code(), r.out());
            assertTrue(r.out().contains("No space left on device") && r.out().contains(out.toString()), at + ": " + r.out());
            assertShort(r);
            assertFalse(Files.exists(out.resolve("model/spec.json")) && !Files.exists(out.resolve("model/summary.json")), at + "");
            assertFalse(Files.exists(out.resolve(RunLock.NAME)), "the lock is released");
            MoEJobTest.Run again = job("train", args, "output.dir=" + out);
            assertEquals(0, again.code(), again.out());
            assertTrue(Files.isRegularFile(out.resolve("model/summary.json")));
        }
        assertTrue(failures >= 2, failures + " runs ran out of space");
    }

    // ------------------------------------------------------------------ case 4

    @Test
    void dataSmallerThanABatchNamesTheKeyAndLeavesNothingBehind(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("small");
        MoEJobTest.Run r = job("train", TINY_LM, "output.dir=" + out, "engine.batchSize=100000");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains("engine.batchSize"), r.out());
        assertShort(r);
        assertEquals(List.of(), visible(out).stream().filter(n -> n.endsWith(".json") || n.equals("model")).toList());
        // the corrected rerun, with another network, is not refused: nothing was trained
        MoEJobTest.Run fixed = job("train", TINY_LM, "output.dir=" + out, "model.numExperts=6");
        assertEquals(0, fixed.code(), fixed.out());
    }

    @Test
    void aCsvRowWithAMissingColumnNamesFileAndRow(@TempDir Path tmp) throws Exception {
        Path csv = MoEJobTest.classificationCsv(tmp, 60, false);
        List<String> lines = new ArrayList<>(Files.readAllLines(csv));
        String row17 = lines.get(18);
        lines.set(18, row17.substring(0, row17.lastIndexOf(','))); // data row 17 (line 19) loses its label
        Files.write(csv, lines);
        MoEJobTest.Run r = job("train", MoEJobTest.TINY_FEATURES, "input.path=" + csv, "output.dir=" + tmp.resolve("out"));
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains("train.csv") && r.out().contains("row 17") && r.out().contains("line 19"), r.out());
        assertShort(r);
        assertTrue(r.out().lines().count() < 10, r.out());
    }

    @Test
    void anUnusableOutputDirIsBadConfiguration(@TempDir Path tmp) throws Exception {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        for (Path out : List.of(file, file.resolve("below"))) {
            MoEJobTest.Run r = job("train", TINY_LM, "output.dir=" + out);
            assertEquals(2, r.code(), r.out());
            assertTrue(r.out().contains("output.dir") && r.out().contains(out.toString()), r.out());
            assertShort(r);
        }
        assertEquals("x", Files.readString(file));
    }

    // ------------------------------------------------------------------ case 5

    @Test
    void aLockedOutputDirOrRootIsRefusedAndAStaleLockIsCleared(@TempDir Path tmp) throws Exception {
        Configuration conf = new Configuration();
        Path out = tmp.resolve("run");
        List<String> args = with(TINY_LM, "optim.maxSteps=2", "charts.enabled=false");
        try (RunLock held = RunLock.acquire(new org.apache.hadoop.fs.Path(out.toUri()), "train", "output.dir", conf)) {
            MoEJobTest.Run r = job("train", args, "output.dir=" + out);
            assertEquals(4, r.code(), r.out());
            assertTrue(r.out().contains(RunLock.NAME) && r.out().contains("pid " + ProcessHandle.current().pid()), r.out());
            assertShort(r);
            assertFalse(Files.exists(out.resolve("model")));
            assertFalse(Files.exists(out.resolve("metrics.jsonl")));
        }
        assertFalse(Files.exists(out.resolve(RunLock.NAME)));

        // stale: a dead process on this host
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        String host = InetAddress.getLocalHost().getHostName();
        Files.createDirectories(out);
        Files.writeString(out.resolve(RunLock.NAME), "{\"host\":\"" + host + "\",\"pid\":" + p.pid() + ",\"command\":\"train\"}\n");
        MoEJobTest.Run stale = job("train", args, "output.dir=" + out);
        assertEquals(0, stale.code(), stale.out());
        assertTrue(stale.out().contains("stale lock"), stale.out());
        assertFalse(Files.exists(out.resolve(RunLock.NAME)));

        // another host's lock cannot be checked: refused, saying how to clear it
        Path root = tmp.resolve("pub");
        Files.createDirectories(root);
        Files.writeString(root.resolve(RunLock.NAME), "{\"host\":\"elsewhere-7\",\"pid\":1,\"command\":\"retrain\"}\n");
        MoEJobTest.Run other = job("retrain", with(args, "retrain.root=" + root), "retrain.date=2026-01-01");
        assertEquals(4, other.code(), other.out());
        assertTrue(other.out().contains("elsewhere-7") && other.out().contains("delete " + root.resolve(RunLock.NAME)), other.out());
        assertFalse(Files.exists(root.resolve("v-2026-01-01")));
        MoEJobTest.Run rb = job("rollback", List.of(), "retrain.root=" + root, "rollback.to=2026-01-01");
        assertEquals(4, rb.code(), rb.out());
    }

    // ------------------------------------------------------------------ case 7

    @Test
    void latestEditedByHandReadsAndABrokenOneIsNamed(@TempDir Path tmp) throws Exception {
        Path root = tmp.resolve("pub");
        List<String> base = with(TINY_LM, "retrain.root=" + root, "charts.enabled=false", "optim.maxSteps=2");
        assertEquals(0, job("retrain", base, "retrain.date=2026-01-01").code());
        assertEquals(0, job("retrain", base, "retrain.date=2026-01-02").code());
        assertTrue(Files.exists(root.resolve(".LATEST.crc")));
        Files.writeString(root.resolve("LATEST"), "v-2026-01-01\n"); // by hand: the .crc is now stale
        MoEJobTest.Run r = job("retrain", base, "retrain.date=2026-01-03");
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("v-2026-01-01 (step"), r.out());
        assertEquals("v-2026-01-03", latest(root));

        Files.writeString(root.resolve("LATEST"), "v-2025-12-31\n");
        MoEJobTest.Run broken = job("retrain", base, "retrain.date=2026-01-04");
        assertEquals(2, broken.code(), broken.out());
        assertTrue(broken.out().contains("LATEST") && broken.out().contains("v-2025-12-31")
                && broken.out().contains("not a published version") && broken.out().contains("rollback"), broken.out());
        assertShort(broken);
        // the fix is the rollback command, which works on a broken LATEST
        assertEquals(0, job("rollback", List.of(), "retrain.root=" + root, "rollback.to=2026-01-03").code());
        assertEquals(0, job("retrain", base, "retrain.date=2026-01-04").code());
    }

    // ------------------------------------------------------------------ case 8

    @Test
    void outOfVocabularyRatesAreReportedAndWarnedAbout(@TempDir Path tmp) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 120; i++) sb.append("the cat sat on the mat . a dog ran to the park ").append(i % 7).append('\n');
        Path f = Files.writeString(tmp.resolve("corpus.txt"), sb.toString());
        Path out = tmp.resolve("lm");
        MoEJobTest.Run t = job("train", with(TINY_LM, "charts.enabled=false", "optim.maxSteps=2"), "input.path=" + f, "output.dir=" + out);
        assertEquals(0, t.code(), t.out());
        JsonNode oov = JSON.readTree(out.resolve("summary.json").toFile()).get("outOfVocabularyRate");
        assertEquals(0.0, oov.get("train").asDouble(), 1e-12);
        assertTrue(oov.has("heldout"), oov.toString());
        assertFalse(t.out().contains("out of vocabulary"), t.out());

        StringBuilder other = new StringBuilder();
        for (int i = 0; i < 30; i++) other.append("zebra quokka narwhal axolotl\n");
        Path held = Files.writeString(tmp.resolve("unknown.txt"), other.toString());
        MoEJobTest.Run ev = job("evaluate", List.of(), "job.model=" + out, "heldout.path=" + held, "input.path=" + held,
                "evaluate.output=" + tmp.resolve("e.json"));
        assertEquals(0, ev.code(), ev.out());
        assertTrue(ev.out().contains("warning:") && ev.out().contains("out of vocabulary") && ev.out().contains("unknown.txt"), ev.out());
        assertEquals(1.0, JSON.readTree(tmp.resolve("e.json").toFile()).get("outOfVocabularyRate").asDouble(), 1e-12);
    }

    // ------------------------------------------------------------------ case 9

    @Test
    void configurationErrorsAreReportedWithoutStartingSpark() {
        String[][] cases = {
            {"train", "output.dir=/tmp/x", "model.k=0", "model.k"},
            {"train", "model.numExperts=4", "output.dir"},
            {"train", "output.dir=/tmp/x", "model.expertz=3", "model.expertz"},
            {"train", "output.dir=/tmp/x", "heldout.path=/tmp/h.txt", "heldout.path"},
            {"train", "output.dir=/tmp/x", "task=classification", "input.path"},
            {"evaluate", "heldout.fraction=2", "heldout.fraction"},
            {"score", "job.model=/tmp/m", "score.output"},
            {"retrain", "retrain.root=/tmp/r", "retrain.date"},
            {"retrain", "retrain.root=/tmp/r", "retrain.date=../x", "retrain.date"},
            {"rollback", "retrain.root=/tmp/r", "rollback.to"},
        };
        for (String[] c : cases) {
            AtomicBoolean started = new AtomicBoolean();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            int code;
            try (PrintStream ps = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
                code = MoEJob.run(() -> {
                    started.set(true);
                    throw new AssertionError("Spark was started");
                }, ps, Arrays.copyOf(c, c.length - 1));
            }
            String text = bytes.toString(StandardCharsets.UTF_8);
            assertEquals(2, code, Arrays.toString(c) + ": " + text);
            assertFalse(started.get(), Arrays.toString(c));
            assertTrue(text.contains(c[c.length - 1]), Arrays.toString(c) + ": " + text);
        }
    }

    // ------------------------------------------------------------------ Spark's checkpoint directory

    @Test
    void sparkCheckpointsGoUnderOutputDirAndAreCleanedAfterTheRun(@TempDir Path tmp) throws Exception {
        JavaSparkContext sc = SparkTestContext.get();
        String shared = sc.getCheckpointDir().orNull();
        sc.sc().setCheckpointDir(null); // as a job whose user set no spark.checkpoint.dir
        Path out = tmp.resolve("run");
        Path ckpt = out.resolve(TrainCommand.SPARK_CHECKPOINTS);
        AtomicBoolean seen = new AtomicBoolean();
        Thread watch = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try (Stream<Path> s = Files.walk(ckpt)) {
                    if (s.anyMatch(p -> p.getFileName().toString().startsWith("rdd-"))) seen.set(true);
                } catch (Exception e) {
                    // not there (yet, or any more)
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        watch.start();
        MoEJobTest.Run r;
        try {
            r = job("train", with(TINY_LM, "engine.placement=sharded", "optim.maxSteps=12", "checkpoint.interval=6", "charts.enabled=false"),
                    "output.dir=" + out);
        } finally {
            watch.interrupt();
            watch.join();
            boolean unset = !sc.getCheckpointDir().isPresent();
            if (shared != null) sc.setCheckpointDir(shared);
            assertTrue(unset, "the context's checkpoint dir is unset again");
        }
        assertEquals(0, r.code(), r.out());
        assertTrue(seen.get(), "the sharded experts were checkpointed under " + ckpt);
        assertFalse(Files.exists(ckpt), "Spark checkpoints are deleted after the run");
    }
}
