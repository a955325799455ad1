package org.sparkmoe.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;

class CheckpointStoreTest {
    static final ParameterLayout SHARED = ParameterLayout.builder().add("input.w", 3, 4).add("input.b", 1, 4).add("gate.w", 4, 5).build();
    static final ParameterLayout EXPERT = ParameterLayout.builder().add("w1", 4, 6).add("b1", 1, 6).add("w2", 6, 4).build();
    static final int EXPERTS = 5;
    static final int SHARDS = 2;

    @TempDir
    Path tmp;

    CheckpointStore store(int keep) {
        return new CheckpointStore(tmp.resolve("ckpt").toUri().toString(), new Configuration(), keep);
    }

    static Parameters random(ParameterLayout layout, Precision p, SplittableRandom rnd) {
        Parameters x = layout.allocate(p);
        x.fill(rnd::nextGaussian);
        return x;
    }

    static OptimiserState adam(Parameters p, SplittableRandom rnd) {
        return new OptimiserState(p.layout(), List.of(new OptimiserState.Slot("m", random(p.layout(), p.precision(), rnd)),
                new OptimiserState.Slot("v", random(p.layout(), p.precision(), rnd))));
    }

    static TrainingState state(Precision p, long step, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Parameters shared = random(SHARED, p, rnd);
        Parameters[] experts = new Parameters[EXPERTS];
        OptimiserState[] states = new OptimiserState[EXPERTS];
        for (int e = 0; e < EXPERTS; e++) {
            experts[e] = random(EXPERT, p, rnd);
            states[e] = adam(experts[e], rnd);
        }
        return new TrainingState(new ModelParameters(shared, experts), adam(shared, rnd), states, step);
    }

    static CheckpointMeta meta(long step, Precision p) {
        return CheckpointMeta.of(step, 2, step % 10, p, EXPERTS, SHARDS, SHARED, EXPERT, Map.of("lr", "0.001", "git", "abc123"));
    }

    static void assertSame(Parameters a, Parameters b) {
        assertEquals(a.layout(), b.layout());
        assertEquals(a.precision(), b.precision());
        for (int i = 0; i < a.flat().size(); i++) {
            // exact: the binary format stores the stored precision's bits
            assertEquals(Double.doubleToLongBits(a.flat().getFlat(i)), Double.doubleToLongBits(b.flat().getFlat(i)), "element " + i);
        }
    }

    static void assertSame(OptimiserState a, OptimiserState b) {
        assertEquals(a.slots().size(), b.slots().size());
        for (int i = 0; i < a.slots().size(); i++) {
            assertEquals(a.slots().get(i).name(), b.slots().get(i).name());
            assertSame(a.slots().get(i).values(), b.slots().get(i).values());
        }
    }

    static void assertSame(TrainingState a, TrainingState b) {
        assertEquals(a.step(), b.step());
        assertSame(a.params().shared(), b.params().shared());
        assertSame(a.sharedOptimiser(), b.sharedOptimiser());
        assertEquals(a.params().experts().length, b.params().experts().length);
        for (int e = 0; e < a.params().experts().length; e++) {
            assertSame(a.params().experts()[e], b.params().experts()[e]);
            assertSame(a.expertOptimisers()[e], b.expertOptimisers()[e]);
        }
    }

    Path stepDir(long step) {
        return tmp.resolve("ckpt").resolve(CheckpointStore.stepDirName(step));
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void roundTripThroughSaveAndLoadLatest(Precision p) throws IOException {
        CheckpointStore store = store(3);
        assertTrue(store.latest().isEmpty());
        TrainingState s = state(p, 123, 7);
        store.save(s, meta(123, p));

        assertTrue(Files.isDirectory(stepDir(123)), "step-000000123 exists");
        assertTrue(Files.exists(stepDir(123).resolve("experts-00001.bin")));
        CheckpointStore.Loaded loaded = store.loadLatest().orElseThrow();
        assertEquals(meta(123, p), loaded.meta());
        assertEquals("abc123", loaded.meta().config().get("git"));
        assertSame(s, loaded.toTrainingState());
        assertSame(s, store.loadTrainingState(123, SHARED, EXPERT));

        // one shard alone, as an executor would read it: contiguous experts 3 and 4
        CheckpointStore.ShardData shard = store.loadExpertShard(loaded.meta(), 1, EXPERT);
        assertArrayEquals(new int[] {3, 4}, shard.expertIds());
        assertSame(s.params().experts()[4], shard.params()[1]);
        assertSame(s.expertOptimisers()[3], shard.states()[0]);
        CheckpointStore.SharedData shared = store.loadShared(loaded.meta());
        assertSame(s.params().shared(), shared.params());
        assertSame(s.sharedOptimiser(), shared.state());
    }

    @Test
    void latestIgnoresTempAndIncompleteDirectories() throws IOException {
        CheckpointStore store = store(3);
        store.save(state(Precision.F32, 5, 1), meta(5, Precision.F32));
        Path root = tmp.resolve("ckpt");
        // A crashed writer's temp dir, even with a meta.json inside, and a step dir without meta.json.
        Path fakeTmp = Files.createDirectories(root.resolve("_tmp-step-9-deadbeef"));
        Files.copy(stepDir(5).resolve("meta.json"), fakeTmp.resolve("meta.json"));
        Path noMeta = Files.createDirectories(stepDir(10));
        Files.copy(stepDir(5).resolve("shared.bin"), noMeta.resolve("shared.bin"));
        // And a step dir whose meta.json names a shard file that is missing (half-copied on an object store).
        Path noShard = Files.createDirectories(stepDir(11));
        Files.writeString(noShard.resolve("meta.json"), meta(11, Precision.F32).toJson());
        Files.copy(stepDir(5).resolve("shared.bin"), noShard.resolve("shared.bin"));
        // And an uncommitted pending checkpoint.
        CheckpointStore.Pending pending = store.begin(12);
        pending.writeShared(state(Precision.F32, 12, 1).params().shared(), state(Precision.F32, 12, 1).sharedOptimiser());

        assertEquals(5, store.latest().orElseThrow().step());
        assertEquals(List.of(5L), store.steps());
        assertEquals(5, store.loadLatest().orElseThrow().meta().step());

        pending.abort();
        assertFalse(Files.exists(Path.of(java.net.URI.create(pending.tmpDir()))), "abort deletes the temp dir");
    }

    @Test
    void keepsTheLastNCheckpoints() throws IOException {
        CheckpointStore store = store(2);
        for (long step = 1; step <= 4; step++) store.save(state(Precision.F32, step, step), meta(step, Precision.F32));
        assertEquals(List.of(3L, 4L), store.steps());
        assertFalse(Files.exists(stepDir(1)));
        assertFalse(Files.exists(stepDir(2)));
        try (var s = Files.list(tmp.resolve("ckpt"))) {
            assertEquals(List.of("step-000000003", "step-000000004"),
                    s.map(x -> x.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList(),
                    "no temp directories left behind");
        }
        // saving a step again replaces it instead of nesting the new directory inside the old one
        TrainingState again = state(Precision.F32, 4, 99);
        store.save(again, meta(4, Precision.F32));
        assertSame(again, store.loadTrainingState(4, SHARED, EXPERT));
        assertEquals(List.of(3L, 4L), store.steps());
    }

    @Test
    void aHeldCheckpointOutlivesKeepUntilReleased() throws IOException {
        CheckpointStore store = store(1);
        store.save(state(Precision.F32, 1, 1), meta(1, Precision.F32));
        // another store of the same directory (a job's own) prunes too: the hold is by path, not by instance
        Runnable release = store(1).hold(1);
        for (long step = 2; step <= 3; step++) store.save(state(Precision.F32, step, step), meta(step, Precision.F32));
        assertEquals(List.of(1L, 3L), store.steps(), "the held step stays; the others beyond keep go");
        release.run();
        release.run(); // once only: a second run releases nothing more
        store.save(state(Precision.F32, 4, 4), meta(4, Precision.F32));
        assertEquals(List.of(4L), store.steps());
        assertFalse(Files.exists(stepDir(1)));
    }

    /** Simulates a filesystem without client-side checksums (HDFS verifies server-side, s3a not at all). */
    static void dropChecksum(Path file) throws IOException {
        Files.deleteIfExists(file.resolveSibling("." + file.getFileName() + ".crc"));
    }

    @Test
    void truncatedShardFileIsAnErrorNamingTheFile() throws IOException {
        CheckpointStore store = store(3);
        store.save(state(Precision.F64, 8, 3), meta(8, Precision.F64));
        Path shard = stepDir(8).resolve("experts-00001.bin");
        long size = Files.size(shard);

        // cut in the middle of the values
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(size / 2);
        }
        dropChecksum(shard);
        IOException e = assertThrows(IOException.class, () -> store.load(8));
        assertTrue(e.getMessage().contains("experts-00001.bin"), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        // cut exactly before the end marker: every record reads, the file is still incomplete
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(0);
        }
        store.save(state(Precision.F64, 8, 3), meta(8, Precision.F64));
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(size - 4);
        }
        dropChecksum(shard);
        e = assertThrows(IOException.class, () -> store.loadExpertShard(store.meta(8), 1, EXPERT));
        assertTrue(e.getMessage().contains("experts-00001.bin") && e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void truncationUnderLocalChecksumsStillNamesTheFile() throws IOException {
        CheckpointStore store = store(3);
        store.save(state(Precision.F32, 8, 3), meta(8, Precision.F32));
        Path shard = stepDir(8).resolve("experts-00000.bin");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(Files.size(shard) / 2);
        }
        IOException e = assertThrows(IOException.class, () -> store.load(8));
        assertTrue(e.getMessage().startsWith("cannot read checkpoint file") && e.getMessage().contains("experts-00000.bin"), e.getMessage());
    }

    @Test
    void unknownFormatVersionIsAClearError() throws IOException {
        CheckpointStore store = store(3);
        store.save(state(Precision.F32, 8, 3), meta(8, Precision.F32));
        Path shared = stepDir(8).resolve("shared.bin");
        try (RandomAccessFile f = new RandomAccessFile(shared.toFile(), "rw")) {
            f.seek(4);
            f.writeInt(99);
        }
        dropChecksum(shared);
        IOException e = assertThrows(IOException.class, () -> store.load(8));
        assertTrue(e.getMessage().contains("shared.bin") && e.getMessage().contains("format version 99"), e.getMessage());

        // a meta.json from a newer format: load says so; latest() skips the checkpoint
        Path meta = stepDir(8).resolve("meta.json");
        Files.writeString(meta, Files.readString(meta).replace("\"formatVersion\" : 1", "\"formatVersion\" : 2"));
        dropChecksum(meta);
        e = assertThrows(IOException.class, () -> store.load(8));
        assertTrue(e.getMessage().contains("meta.json") && e.getMessage().contains("format version 2"), e.getMessage());
        assertTrue(store.latest().isEmpty());
    }

    @Test
    void notACheckpointFileIsAClearError() throws IOException {
        CheckpointStore store = store(3);
        store.save(state(Precision.F32, 8, 3), meta(8, Precision.F32));
        Path shared = stepDir(8).resolve("shared.bin");
        Files.writeString(shared, "hello world, not a checkpoint");
        dropChecksum(shared);
        IOException e = assertThrows(IOException.class, () -> store.load(8));
        assertTrue(e.getMessage().contains("shared.bin") && e.getMessage().contains("not a spark-moe checkpoint"), e.getMessage());
    }

    /** The offset of the first occurrence of {@code value}'s stored bytes in {@code file}. */
    static int offsetOf(Path file, double value, Precision p) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        java.nio.ByteBuffer needle = java.nio.ByteBuffer.allocate(8);
        if (p == Precision.F32) needle.putFloat((float) value);
        else needle.putDouble(value);
        int n = needle.position();
        outer:
        for (int i = 0; i + n <= bytes.length; i++) {
            for (int j = 0; j < n; j++) if (bytes[i + j] != needle.get(j)) continue outer;
            return i;
        }
        throw new AssertionError(value + " not found in " + file);
    }

    /** Issue 11 case 2: 0xFF over parameter values, no .crc (an object store) - values that read as NaN. */
    @ParameterizedTest
    @EnumSource(Precision.class)
    void nonFiniteParametersAreAnErrorNamingTheFileAndTensor(Precision p) throws IOException {
        CheckpointStore store = store(3);
        TrainingState s = state(p, 8, 3);
        store.save(s, meta(8, p));
        Path shared = stepDir(8).resolve("shared.bin");
        // the values of 'input.b' (flat 12..15) onwards: 0xFF bytes are NaN in either precision
        int at = offsetOf(shared, s.params().shared().flat().getFlat(12), p);
        try (RandomAccessFile f = new RandomAccessFile(shared.toFile(), "rw")) {
            f.seek(at);
            f.write(filled(4 * (p == Precision.F32 ? 4 : 8)));
        }
        dropChecksum(shared);
        CorruptCheckpointException e = assertThrows(CorruptCheckpointException.class, () -> store.load(8));
        assertTrue(e.getMessage().contains("shared.bin") && e.getMessage().contains("non-finite value NaN in tensor 'input.b' at row 0, column 0"),
                e.getMessage());
        assertTrue(e.file().endsWith("shared.bin"), e.file());
        assertThrows(CorruptCheckpointException.class, () -> store.loadTrainingState(8, SHARED, EXPERT));
    }

    private static byte[] filled(int n) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) 0xFF);
        return b;
    }

    @Test
    void aDivergedStateIsNotCheckpointed() throws IOException {
        CheckpointStore store = store(3);
        TrainingState s = state(Precision.F32, 8, 3);
        s.params().experts()[3].flat().setFlat(26, Float.POSITIVE_INFINITY);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> store.save(s, meta(8, Precision.F32)));
        assertTrue(e.getMessage().contains("expert 3") && e.getMessage().contains("Infinity in tensor 'b1' at row 0, column 2"),
                e.getMessage());
        assertTrue(store.latest().isEmpty());
        try (var dir = Files.list(tmp.resolve("ckpt"))) {
            assertEquals(List.of(), dir.toList(), "the temporary checkpoint directory is removed");
        }
    }

    /** Issue 11 case 3: the disk fills up while a checkpoint is written. */
    @Test
    void aFullDiskIsAWriteFailureNamingThePathAndLeavesNoCheckpoint() throws IOException {
        Configuration full = FullDiskFileSystem.configure(new Configuration(), 600);
        CheckpointStore store = new CheckpointStore(tmp.resolve("ckpt").toUri().toString(), full, 3);
        WriteFailedException e = assertThrows(WriteFailedException.class, () -> store.save(state(Precision.F64, 8, 3), meta(8, Precision.F64)));
        assertTrue(e.outOfSpace(), e.getMessage());
        assertTrue(e.getMessage().contains("No space left on device") && e.getMessage().contains(e.path()), e.getMessage());
        assertTrue(e.path().contains(tmp.resolve("ckpt").toString()) && e.path().endsWith(".bin"), e.path());

        CheckpointStore healthy = store(3);
        assertTrue(healthy.latest().isEmpty());
        try (var dir = Files.list(tmp.resolve("ckpt"))) {
            assertEquals(List.of(), dir.toList(), "nothing half-written is left");
        }
        // space freed: the same store writes the checkpoint
        healthy.save(state(Precision.F64, 8, 3), meta(8, Precision.F64));
        assertSame(state(Precision.F64, 8, 3), healthy.loadTrainingState(8, SHARED, EXPERT));
    }

    @Test
    void layoutMismatchIsAClearError() throws IOException {
        CheckpointStore store = store(3);
        store.save(state(Precision.F32, 8, 3), meta(8, Precision.F32));
        ParameterLayout wider = ParameterLayout.builder().add("w1", 4, 8).add("b1", 1, 8).add("w2", 8, 4).build();
        IOException e = assertThrows(IOException.class, () -> store.loadTrainingState(8, SHARED, wider));
        assertTrue(e.getMessage().contains("expert layout mismatch") && e.getMessage().contains("'w1' 4x6"), e.getMessage());
        ParameterLayout renamed = ParameterLayout.builder().add("input.w", 3, 4).add("input.bias", 1, 4).add("gate.w", 4, 5).build();
        e = assertThrows(IOException.class, () -> store.loadTrainingState(8, renamed, EXPERT));
        assertTrue(e.getMessage().contains("shared layout mismatch") && e.getMessage().contains("input.bias"), e.getMessage());
        e = assertThrows(IOException.class, () -> store.loadExpertShard(store.meta(8), 0, wider));
        assertTrue(e.getMessage().contains("layout mismatch"), e.getMessage());

        // a shard file whose experts disagree with meta.json
        CheckpointStore.Pending p = store.begin(9);
        TrainingState s = state(Precision.F32, 9, 4);
        p.writeShared(s.params().shared(), s.sharedOptimiser());
        SplittableRandom rnd = new SplittableRandom(1);
        Parameters odd = random(wider, Precision.F32, rnd);
        p.writeExpertShard(0, new int[] {0, 1, 2}, new Parameters[] {odd, odd, odd}, new OptimiserState[] {adam(odd, rnd), adam(odd, rnd), adam(odd, rnd)});
        p.writeExpertShard(1, new int[] {3, 4}, Arrays.copyOfRange(s.params().experts(), 3, 5), Arrays.copyOfRange(s.expertOptimisers(), 3, 5));
        p.commit(meta(9, Precision.F32));
        e = assertThrows(IOException.class, () -> store.load(9));
        assertTrue(e.getMessage().contains("experts-00000.bin") && e.getMessage().contains("layout mismatch"), e.getMessage());
    }

    @SuppressWarnings("unchecked")
    static <T> T javaRoundTrip(T x) throws IOException, ClassNotFoundException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(x);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (T) in.readObject();
        }
    }

    @Test
    void executorsWriteTheirShardsThroughASerializedHandle() throws Exception {
        Configuration conf = new Configuration();
        conf.set("spark.moe.test.marker", "carried");
        CheckpointStore store = new CheckpointStore(tmp.resolve("ckpt").toUri().toString(), conf, 3);
        TrainingState s = state(Precision.F32, 40, 11);
        CheckpointStore.Pending pending = store.begin(40);

        // "executors": each gets its own deserialized copy, as a Spark closure would
        List<CheckpointStore.Pending> executors = new ArrayList<>();
        for (int shard = 0; shard < SHARDS; shard++) executors.add(javaRoundTrip(pending));
        executors.get(1).writeExpertShard(1, new int[] {3, 4}, Arrays.copyOfRange(s.params().experts(), 3, 5),
                Arrays.copyOfRange(s.expertOptimisers(), 3, 5));
        // a retried task attempt rewrites its shard: harmless
        for (int attempt = 0; attempt < 2; attempt++) {
            javaRoundTrip(pending).writeExpertShard(0, new int[] {0, 1, 2}, Arrays.copyOfRange(s.params().experts(), 0, 3),
                    Arrays.copyOfRange(s.expertOptimisers(), 0, 3));
        }
        assertTrue(store.latest().isEmpty(), "nothing visible before commit");
        pending.writeShared(s.params().shared(), s.sharedOptimiser());
        pending.commit(meta(40, Precision.F32));
        assertSame(s, store.loadTrainingState(40, SHARED, EXPERT));
        assertThrows(IllegalStateException.class, () -> pending.writeShared(s.params().shared(), s.sharedOptimiser()));

        // a store shipped to an executor reads a shard with the driver's meta
        CheckpointStore remote = javaRoundTrip(store);
        CheckpointStore.ShardData d = remote.loadExpertShard(store.meta(40), 0, EXPERT);
        assertArrayEquals(new int[] {0, 1, 2}, d.expertIds());
    }

    @Test
    void commitRefusesAMissingShard() throws IOException {
        CheckpointStore store = store(3);
        TrainingState s = state(Precision.F32, 6, 2);
        CheckpointStore.Pending p = store.begin(6);
        p.writeShared(s.params().shared(), s.sharedOptimiser());
        p.writeExpertShard(0, new int[] {0, 1, 2}, Arrays.copyOfRange(s.params().experts(), 0, 3), Arrays.copyOfRange(s.expertOptimisers(), 0, 3));
        IOException e = assertThrows(IOException.class, () -> p.commit(meta(6, Precision.F32)));
        assertTrue(e.getMessage().contains("experts-00001.bin"), e.getMessage());
        assertTrue(store.latest().isEmpty());
        p.abort();
    }

    @Test
    void metaJsonRoundTrips() throws IOException {
        CheckpointMeta m = meta(77, Precision.F64);
        assertEquals(m, CheckpointMeta.parse(m.toJson(), "test"));
        IOException e = assertThrows(IOException.class, () -> CheckpointMeta.parse("{\"formatVersion\":1}", "x/meta.json"));
        assertTrue(e.getMessage().startsWith("x/meta.json"), e.getMessage());
    }
}
