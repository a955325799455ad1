package org.sparkmoe.engine.checkpoint;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;

/**
 * Checkpoints of one training run under a directory on any Hadoop filesystem ({@code file:},
 * {@code hdfs:}, {@code s3a:}, ...):
 *
 * <pre>
 * dir/step-000000123/meta.json             {@link CheckpointMeta}, written last
 * dir/step-000000123/shared.bin            shared parameters + their optimiser state
 * dir/step-000000123/experts-00000.bin     per expert shard: (expert id, parameters, optimiser state)*
 * dir/_tmp-step-124-&lt;random&gt;/...           a checkpoint being written; ignored by readers
 * </pre>
 *
 * A checkpoint is written into a {@code _tmp-} directory ({@link #begin}), and {@link Pending#commit}
 * writes meta.json and renames the directory to {@code step-N}, then deletes all but the newest
 * {@code keep} checkpoints (except one a resumed run still reads, {@link #hold}). Readers ({@link #latest}, {@link #steps}) only see {@code step-*}
 * directories holding meta.json, shared.bin and every shard file meta.json names. The rename is
 * atomic on HDFS and local filesystems; on object stores (s3a) it is a copy, and the completeness
 * check above is what keeps a half-copied directory from being loaded.
 *
 * <p>One writer per directory is assumed. This object and {@link Pending} are {@link Serializable}
 * (the Hadoop configuration travels as its entries), so executors can write their own expert
 * shards; commit and abort belong on the driver. The binary format is {@link CheckpointFiles}.
 */
public final class CheckpointStore implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);

    /** The checkpoint format version this build writes and reads (binary files and meta.json). */
    public static final int FORMAT_VERSION = CheckpointFiles.FORMAT_VERSION;
    public static final int DEFAULT_KEEP = 3;
    public static final String META = "meta.json";
    public static final String SHARED = "shared.bin";

    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");
    private static final Pattern TMP_DIR = Pattern.compile("_tmp-step-(\\d+)-.*");

    private final String dir;
    private final int keep;
    private transient Configuration conf;
    private transient FileSystem fs;

    /** A store keeping the newest {@link #DEFAULT_KEEP} checkpoints. */
    public CheckpointStore(String dir, Configuration conf) {
        this(dir, conf, DEFAULT_KEEP);
    }

    /** @param keep how many checkpoints to keep after a commit (at least 1) */
    public CheckpointStore(String dir, Configuration conf, int keep) {
        if (keep < 1) {
            throw new IllegalArgumentException("keep must be >= 1, got " + keep);
        }
        this.dir = new Path(dir).toString();
        this.conf = new Configuration(conf);
        this.keep = keep;
    }

    public String dir() {
        return dir;
    }

    public int keep() {
        return keep;
    }

    /** Directory name of a step: {@code step-} and the step zero-padded to 9 digits. */
    public static String stepDirName(long step) {
        return String.format("step-%09d", step);
    }

    /** File name of an expert shard: {@code experts-} and the shard zero-padded to 5 digits, {@code .bin}. */
    public static String shardFileName(int shard) {
        return String.format("experts-%05d.bin", shard);
    }

    // ---------------------------------------------------------------- writing

    /** Starts a checkpoint of {@code step} in a fresh temporary directory. */
    public Pending begin(long step) throws IOException {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        String tmp = new Path(new Path(dir), "_tmp-step-" + step + "-" + UUID.randomUUID().toString().substring(0, 8)).toString();
        if (!fs().mkdirs(new Path(tmp))) {
            throw new IOException("cannot create checkpoint directory " + tmp);
        }
        return new Pending(this, step, tmp);
    }

    /**
     * A checkpoint being written. Serializable: ship it to executors so each writes its own shard
     * with {@link #writeExpertShard}; call {@link #commit} or {@link #abort} on the driver once all
     * writes have finished.
     */
    public static final class Pending implements Serializable {
        private static final long serialVersionUID = 1L;
        private final CheckpointStore store;
        private final long step;
        private final String tmpDir;
        private transient boolean finished;

        private Pending(CheckpointStore store, long step, String tmpDir) {
            this.store = store;
            this.step = step;
            this.tmpDir = tmpDir;
        }

        public long step() {
            return step;
        }

        /** The temporary directory the files go to until {@link #commit}. */
        public String tmpDir() {
            return tmpDir;
        }

        /** Writes shared.bin. */
        public void writeShared(Parameters params, OptimiserState state) throws IOException {
            checkOpen();
            checkState(params, state, "shared parameters");
            store.writeAtomically(new Path(tmpDir, SHARED), out -> {
                CheckpointFiles.writeHeader(out, CheckpointFiles.KIND_SHARED, step);
                CheckpointFiles.writeParameters(out, params);
                CheckpointFiles.writeOptimiser(out, state);
                CheckpointFiles.writeEnd(out);
            });
        }

        /**
         * Writes the file of one expert shard; callable on an executor from a deserialized copy.
         * Idempotent: a retried or speculative task rewrites the same file (written to a part file
         * and renamed, so a reader never sees half of it).
         */
        public void writeExpertShard(int shard, int[] expertIds, Parameters[] params, OptimiserState[] states) throws IOException {
            checkOpen();
            if (shard < 0) {
                throw new IllegalArgumentException("shard must be >= 0, got " + shard);
            }
            if (expertIds.length != params.length || params.length != states.length) {
                throw new IllegalArgumentException("expertIds, params and states differ in length: " + expertIds.length + ", "
                        + params.length + ", " + states.length);
            }
            for (int i = 0; i < params.length; i++) checkState(params[i], states[i], "expert " + expertIds[i]);
            store.writeAtomically(new Path(tmpDir, shardFileName(shard)), out -> {
                CheckpointFiles.writeHeader(out, CheckpointFiles.KIND_EXPERTS, step);
                out.writeInt(shard);
                out.writeInt(expertIds.length);
                for (int i = 0; i < expertIds.length; i++) {
                    out.writeInt(expertIds[i]);
                    CheckpointFiles.writeParameters(out, params[i]);
                    CheckpointFiles.writeOptimiser(out, states[i]);
                }
                CheckpointFiles.writeEnd(out);
            });
        }

        /**
         * Checks that shared.bin and every shard file of {@code meta} are present, writes meta.json,
         * renames the directory to {@code step-N} (replacing an existing checkpoint of the same step)
         * and prunes old checkpoints. Driver only.
         */
        public void commit(CheckpointMeta meta) throws IOException {
            checkOpen();
            if (meta.step() != step) {
                throw new IllegalArgumentException("meta is for step " + meta.step() + " but this checkpoint is step " + step);
            }
            FileSystem fs = store.fs();
            Path tmp = new Path(tmpDir);
            Set<String> names = new HashSet<>();
            for (FileStatus st : fs.listStatus(tmp)) {
                String name = st.getPath().getName();
                // Leftovers of failed or speculative shard writes that lost the rename race.
                if (name.endsWith(".part")) fs.delete(st.getPath(), false);
                else names.add(name);
            }
            List<String> missing = new ArrayList<>();
            if (!names.contains(SHARED)) missing.add(SHARED);
            for (int s = 0; s < meta.numExpertShards(); s++) {
                if (!names.contains(shardFileName(s))) missing.add(shardFileName(s));
            }
            if (!missing.isEmpty()) {
                throw new IOException("cannot commit checkpoint step " + step + " in " + tmpDir + ": missing " + missing
                        + " (did every expert shard write its file?)");
            }
            byte[] json = meta.toJson().getBytes(StandardCharsets.UTF_8);
            store.writeAtomically(new Path(tmp, META), out -> out.write(json));

            Path target = new Path(new Path(store.dir), stepDirName(step));
            Path displaced = null;
            if (fs.exists(target)) {
                // Hadoop's rename would move tmp INTO an existing directory; move the old one aside
                // under an ignored _tmp- name first, so a reader sees either the old or the new one.
                displaced = new Path(new Path(store.dir), "_tmp-step-" + step + "-replaced-" + UUID.randomUUID().toString().substring(0, 8));
                if (!fs.rename(target, displaced)) {
                    throw new IOException("cannot move existing checkpoint " + target + " aside to " + displaced);
                }
            }
            if (!fs.rename(tmp, target)) {
                throw new IOException("cannot rename " + tmp + " to " + target);
            }
            finished = true;
            if (displaced != null) fs.delete(displaced, true);
            store.prune(step);
        }

        /** Deletes the temporary directory. Safe to call after a failed write or commit. */
        public void abort() throws IOException {
            if (finished) return;
            finished = true;
            store.fs().delete(new Path(tmpDir), true);
        }

        private void checkOpen() {
            if (finished) {
                throw new IllegalStateException("checkpoint step " + step + " was already committed or aborted");
            }
        }

        /**
         * Layouts agree, and every value is finite: a reader rejects non-finite values as corruption,
         * so a diverged state is refused here rather than written as a checkpoint nobody can load.
         */
        private static void checkState(Parameters p, OptimiserState s, String what) {
            if (!s.layout().equals(p.layout())) {
                throw new IllegalArgumentException(what + ": optimiser state layout " + s.layout() + " differs from parameter layout "
                        + p.layout());
            }
            checkFinite(p, what);
            for (OptimiserState.Slot slot : s.slots()) checkFinite(slot.values(), what + ", optimiser slot '" + slot.name() + "'");
        }

        private static void checkFinite(Parameters p, String what) {
            var flat = p.flat();
            for (int i = 0, n = flat.size(); i < n; i++) {
                double v = flat.getFlat(i);
                if (!Double.isFinite(v)) {
                    throw new IllegalArgumentException("refusing to checkpoint " + what + ": "
                            + CheckpointFiles.nonFinite(p.layout(), i, v) + " (training diverged)");
                }
            }
        }
    }

    /**
     * Writes a whole checkpoint of a driver-held state: shared.bin, and the experts split into
     * {@code meta.numExpertShards()} contiguous shards (expert e goes to shard e * shards / experts,
     * as the engine's ExpertPartitioner places them). Aborts on failure.
     */
    public void save(TrainingState state, CheckpointMeta meta) throws IOException {
        Parameters[] experts = state.params().experts();
        if (meta.step() != state.step()) {
            throw new IllegalArgumentException("meta is for step " + meta.step() + " but the state is at step " + state.step());
        }
        if (meta.numExperts() != experts.length || state.expertOptimisers().length != experts.length) {
            throw new IllegalArgumentException("meta says " + meta.numExperts() + " experts but the state has " + experts.length
                    + " parameter groups and " + state.expertOptimisers().length + " optimiser states");
        }
        Pending p = begin(state.step());
        try {
            p.writeShared(state.params().shared(), state.sharedOptimiser());
            int shards = meta.numExpertShards();
            for (int s = 0; s < shards; s++) {
                int first = firstExpert(s, experts.length, shards);
                int last = firstExpert(s + 1, experts.length, shards);
                int[] ids = new int[last - first];
                for (int i = 0; i < ids.length; i++) ids[i] = first + i;
                p.writeExpertShard(s, ids, Arrays.copyOfRange(experts, first, last),
                        Arrays.copyOfRange(state.expertOptimisers(), first, last));
            }
            p.commit(meta);
        } catch (IOException | RuntimeException e) {
            try {
                p.abort();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** Smallest e with e * shards / experts >= shard. */
    private static int firstExpert(int shard, int experts, int shards) {
        return (int) (((long) shard * experts + shards - 1) / shards);
    }

    // ---------------------------------------------------------------- reading

    /** Steps of the complete checkpoints, ascending. Incomplete and {@code _tmp-} directories are left out. */
    public List<Long> steps() throws IOException {
        List<Long> out = new ArrayList<>();
        for (var e : stepDirs().entrySet()) {
            if (completeMeta(e.getValue()).isPresent()) out.add(e.getKey());
        }
        return out;
    }

    /** The meta of the newest complete checkpoint, if any. */
    public Optional<CheckpointMeta> latest() throws IOException {
        for (var e : stepDirs().descendingMap().entrySet()) {
            Optional<CheckpointMeta> m = completeMeta(e.getValue());
            if (m.isPresent()) return m;
        }
        return Optional.empty();
    }

    /** The meta of one checkpoint. */
    public CheckpointMeta meta(long step) throws IOException {
        return readMeta(stepDir(step));
    }

    /** Everything a checkpoint holds, with the experts ordered by id. */
    public record Loaded(CheckpointMeta meta, Parameters shared, OptimiserState sharedState, Parameters[] experts,
                         OptimiserState[] expertStates) {

        /**
         * Fails with a clear IOException unless the checkpoint's layouts are the given ones (the
         * model about to be resumed).
         */
        public Loaded requireLayouts(ParameterLayout expectedShared, ParameterLayout expectedExpert) throws IOException {
            if (!shared.layout().equals(expectedShared)) {
                throw new IOException("checkpoint step " + meta.step() + ": shared layout mismatch: "
                        + CheckpointFiles.layoutDifference(expectedShared, shared.layout()));
            }
            if (!meta.expertLayout().equals(expectedExpert)) {
                throw new IOException("checkpoint step " + meta.step() + ": expert layout mismatch: "
                        + CheckpointFiles.layoutDifference(expectedExpert, meta.expertLayout()));
            }
            return this;
        }

        public TrainingState toTrainingState() {
            return new TrainingState(new ModelParameters(shared, experts), sharedState, expertStates, meta.step());
        }
    }

    /** The shared parameter group and its optimiser state. */
    public record SharedData(Parameters params, OptimiserState state) {
    }

    /** The experts of one shard file, in file order. */
    public record ShardData(int shard, int[] expertIds, Parameters[] params, OptimiserState[] states) {
    }

    /**
     * Loads a whole checkpoint, checking every file against meta.json (step, layouts, precision)
     * and that each expert 0..numExperts-1 appears exactly once across the shards.
     */
    public Loaded load(long step) throws IOException {
        Path d = stepDir(step);
        CheckpointMeta meta = readMeta(d);
        SharedData shared = readShared(d, meta);
        Parameters[] experts = new Parameters[meta.numExperts()];
        OptimiserState[] states = new OptimiserState[meta.numExperts()];
        for (int s = 0; s < meta.numExpertShards(); s++) {
            ShardData data = readShard(d, meta, s, null);
            for (int i = 0; i < data.expertIds.length; i++) {
                int id = data.expertIds[i];
                if (experts[id] != null) {
                    throw new IOException("checkpoint " + d + ": expert " + id + " appears in more than one shard file");
                }
                experts[id] = data.params[i];
                states[id] = data.states[i];
            }
        }
        for (int e = 0; e < experts.length; e++) {
            if (experts[e] == null) {
                throw new IOException("checkpoint " + d + ": expert " + e + " is in none of the " + meta.numExpertShards() + " shard files");
            }
        }
        return new Loaded(meta, shared.params(), shared.state(), experts, states);
    }

    /** {@link #load} of the newest complete checkpoint. */
    public Optional<Loaded> loadLatest() throws IOException {
        Optional<CheckpointMeta> m = latest();
        return m.isPresent() ? Optional.of(load(m.get().step())) : Optional.empty();
    }

    /**
     * The training state of a checkpoint, checked against the layouts of the model being resumed.
     * Epoch and data position are in {@link #meta(long)}.
     */
    public TrainingState loadTrainingState(long step, ParameterLayout expectedShared, ParameterLayout expectedExpert) throws IOException {
        return load(step).requireLayouts(expectedShared, expectedExpert).toTrainingState();
    }

    /**
     * Reads one expert shard file, e.g. on the executor that owns the shard. Checks the file against
     * {@code meta} (which the driver reads once and ships) and, when {@code expectedExpert} is not
     * null, the expert layout against it.
     */
    public ShardData loadExpertShard(CheckpointMeta meta, int shard, ParameterLayout expectedExpert) throws IOException {
        if (shard < 0 || shard >= meta.numExpertShards()) {
            throw new IllegalArgumentException("shard " + shard + " outside [0, " + meta.numExpertShards() + ")");
        }
        return readShard(stepDir(meta.step()), meta, shard, expectedExpert);
    }

    /**
     * Reads only shared.bin (the driver's part when the experts are sharded on executors), checked
     * against {@code meta}.
     */
    public SharedData loadShared(CheckpointMeta meta) throws IOException {
        return readShared(stepDir(meta.step()), meta);
    }

    private SharedData readShared(Path d, CheckpointMeta meta) throws IOException {
        Object[] result = new Object[1];
        readFile(new Path(d, SHARED), CheckpointFiles.KIND_SHARED, meta, r -> {
            r.context("shared parameters");
            Parameters p = r.readParameters();
            checkLayout(r, p, meta.sharedLayout(), meta);
            r.context("shared optimiser state");
            result[0] = new SharedData(p, r.readOptimiser(p.layout()));
        });
        return (SharedData) result[0];
    }

    private ShardData readShard(Path d, CheckpointMeta meta, int shard, ParameterLayout expectedExpert) throws IOException {
        if (expectedExpert != null && !expectedExpert.equals(meta.expertLayout())) {
            throw new IOException("checkpoint " + d + ": expert layout mismatch: "
                    + CheckpointFiles.layoutDifference(expectedExpert, meta.expertLayout()));
        }
        Object[] result = new Object[1];
        readFile(new Path(d, shardFileName(shard)), CheckpointFiles.KIND_EXPERTS, meta, r -> {
            r.context("shard number");
            int s = r.readInt();
            if (s != shard) throw r.corrupt("file holds shard " + s + ", expected " + shard);
            int n = r.readInt();
            if (n < 0 || n > meta.numExperts()) throw r.corrupt("expert count " + n + " for " + meta.numExperts() + " experts");
            int[] ids = new int[n];
            Parameters[] params = new Parameters[n];
            OptimiserState[] states = new OptimiserState[n];
            for (int i = 0; i < n; i++) {
                r.context("expert #" + i + " id");
                ids[i] = r.readInt();
                if (ids[i] < 0 || ids[i] >= meta.numExperts()) throw r.corrupt("expert id " + ids[i] + " outside [0, " + meta.numExperts() + ")");
                r.context("expert " + ids[i] + " parameters");
                params[i] = r.readParameters();
                checkLayout(r, params[i], meta.expertLayout(), meta);
                r.context("expert " + ids[i] + " optimiser state");
                states[i] = r.readOptimiser(params[i].layout());
            }
            result[0] = new ShardData(shard, ids, params, states);
        });
        return (ShardData) result[0];
    }

    private static void checkLayout(CheckpointFiles.Reader r, Parameters p, ParameterLayout expected, CheckpointMeta meta) throws IOException {
        if (!p.layout().equals(expected)) {
            throw new IOException("checkpoint file " + r.file() + ": layout mismatch with meta.json: "
                    + CheckpointFiles.layoutDifference(expected, p.layout()));
        }
        if (p.precision() != meta.precision()) {
            throw new IOException("checkpoint file " + r.file() + ": precision " + p.precision() + " but meta.json says " + meta.precision());
        }
    }

    private interface Body {
        void read(CheckpointFiles.Reader r) throws IOException;
    }

    private void readFile(Path file, byte kind, CheckpointMeta meta, Body body) throws IOException {
        FSDataInputStream raw;
        try {
            raw = fs().open(file);
        } catch (FileNotFoundException e) {
            throw new IOException("checkpoint file " + file + " is missing", e);
        }
        try (CheckpointFiles.Reader r = new CheckpointFiles.Reader(new DataInputStream(new BufferedInputStream(raw, 1 << 16)), file.toString())) {
            try {
                long step = r.readHeader(kind);
                if (step != meta.step()) throw r.corrupt("file is for step " + step + " but meta.json says " + meta.step());
                body.read(r);
                r.readEnd();
            } catch (EOFException e) {
                throw r.truncated(e);
            } catch (IOException e) {
                if (e.getMessage() != null && e.getMessage().startsWith("checkpoint file ")) throw e;
                // ChecksumException and friends from the filesystem: say which file and what it likely means.
                throw new CorruptCheckpointException(file.toString(), "cannot read checkpoint file " + file
                        + " (corrupt or truncated?): " + e, e);
            }
        }
    }

    private CheckpointMeta readMeta(Path stepDir) throws IOException {
        Path f = new Path(stepDir, META);
        byte[] bytes;
        try (FSDataInputStream in = fs().open(f)) {
            bytes = in.readAllBytes();
        } catch (FileNotFoundException e) {
            throw new IOException("checkpoint " + stepDir + " has no " + META + " (incomplete or not a checkpoint)", e);
        }
        CheckpointMeta meta = CheckpointMeta.parse(new String(bytes, StandardCharsets.UTF_8), f.toString());
        Matcher m = STEP_DIR.matcher(stepDir.getName());
        if (m.matches() && Long.parseLong(m.group(1)) != meta.step()) {
            throw new IOException(f + " says step " + meta.step() + " but lies in " + stepDir.getName());
        }
        return meta;
    }

    /** The meta of a step directory if it is complete (meta.json readable, all data files present). */
    private Optional<CheckpointMeta> completeMeta(Path stepDir) throws IOException {
        Set<String> names = new HashSet<>();
        for (FileStatus st : fs().listStatus(stepDir)) names.add(st.getPath().getName());
        if (!names.contains(META)) return Optional.empty();
        CheckpointMeta meta;
        try {
            meta = readMeta(stepDir);
        } catch (IOException e) {
            LOG.warn("ignoring checkpoint {}: {}", stepDir, e.getMessage());
            return Optional.empty();
        }
        if (!names.contains(SHARED)) return Optional.empty();
        for (int s = 0; s < meta.numExpertShards(); s++) {
            if (!names.contains(shardFileName(s))) return Optional.empty();
        }
        return Optional.of(meta);
    }

    /** All {@code step-N} directories by step (complete or not). */
    private TreeMap<Long, Path> stepDirs() throws IOException {
        TreeMap<Long, Path> out = new TreeMap<>();
        Path root = new Path(dir);
        if (!fs().exists(root)) return out;
        for (FileStatus st : fs().listStatus(root)) {
            Matcher m = STEP_DIR.matcher(st.getPath().getName());
            if (st.isDirectory() && m.matches()) out.put(Long.parseLong(m.group(1)), st.getPath());
        }
        return out;
    }

    private Path stepDir(long step) {
        return new Path(new Path(dir), stepDirName(step));
    }

    // ---------------------------------------------------------------- housekeeping

    /** Checkpoint directories (qualified paths) that {@link #prune} keeps while held, with their hold counts. */
    private static final java.util.Map<String, Integer> HELD = new java.util.HashMap<>();

    /**
     * Keeps checkpoint {@code step}'s directory from being pruned (by any store of this JVM, the
     * driver) until the returned action runs (once; later runs do nothing): a sharded run resumed
     * from its shard files reads them again to recompute its first expert state after a lost
     * executor, until its first lineage checkpoint.
     */
    public Runnable hold(long step) throws IOException {
        String key = fs().makeQualified(stepDir(step)).toString();
        synchronized (HELD) {
            HELD.merge(key, 1, Integer::sum);
        }
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        return () -> {
            if (!done.compareAndSet(false, true)) return;
            synchronized (HELD) {
                HELD.computeIfPresent(key, (k, n) -> n == 1 ? null : n - 1);
            }
        };
    }

    private boolean held(Path p) throws IOException {
        String key = fs().makeQualified(p).toString();
        synchronized (HELD) {
            return HELD.containsKey(key);
        }
    }

    /**
     * Deletes complete checkpoints beyond the newest {@code keep}, and {@code _tmp-} directories of
     * earlier steps (left by crashed writers). Failures are logged, not thrown: the commit that
     * triggered pruning has already succeeded.
     */
    private void prune(long committedStep) {
        try {
            List<Long> complete = steps();
            TreeMap<Long, Path> dirs = stepDirs();
            for (int i = 0; i < complete.size() - keep; i++) {
                Path p = dirs.get(complete.get(i));
                if (held(p)) continue; // pruned by a later commit once released
                if (!fs().delete(p, true)) LOG.warn("could not delete old checkpoint {}", p);
            }
            for (FileStatus st : fs().listStatus(new Path(dir))) {
                Matcher m = TMP_DIR.matcher(st.getPath().getName());
                if (m.matches() && Long.parseLong(m.group(1)) < committedStep) fs().delete(st.getPath(), true);
            }
        } catch (IOException e) {
            LOG.warn("pruning old checkpoints in {} failed: {}", dir, e.toString());
        }
    }

    private interface Writing {
        void write(DataOutputStream out) throws IOException;
    }

    /** Writes to a unique part file, then renames it over {@code target}, so readers never see half a file. */
    private void writeAtomically(Path target, Writing w) throws IOException {
        Path part = new Path(target.getParent(), target.getName() + "." + UUID.randomUUID().toString().substring(0, 8) + ".part");
        FileSystem fs = fs();
        try {
            try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(fs.create(part, false), 1 << 16))) {
                w.write(out);
            }
            if (fs.exists(target)) fs.delete(target, false);
            if (!fs.rename(part, target)) {
                // Another attempt of the same task may have won the race; its content is the same.
                if (!fs.exists(target)) throw new IOException("cannot rename " + part + " to " + target);
                fs.delete(part, false);
            }
        } catch (IOException | FSError e) {
            // FSError: how Hadoop's local filesystem reports a failed write (ENOSPC), an Error no caller expects.
            WriteFailedException failure = WriteFailedException.of(target.toString(), e);
            deleteQuietly(fs, part, failure);
            throw failure;
        } catch (RuntimeException e) {
            deleteQuietly(fs, part, e);
            throw e;
        }
    }

    private static void deleteQuietly(FileSystem fs, Path part, Throwable failure) {
        try {
            fs.delete(part, false);
        } catch (IOException | FSError suppressed) {
            failure.addSuppressed(suppressed);
        }
    }

    private FileSystem fs() throws IOException {
        if (fs == null) fs = new Path(dir).getFileSystem(conf);
        return fs;
    }

    // Configuration is Writable but not Serializable: ship its entries.
    private void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
        conf.write(out);
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        conf = new Configuration(false);
        conf.readFields(in);
    }

    @Override
    public String toString() {
        return "CheckpointStore(" + dir + ", keep " + keep + ")";
    }
}
