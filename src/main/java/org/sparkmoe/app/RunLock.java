package org.sparkmoe.app;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Optional;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.engine.checkpoint.WriteFailedException;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The lock of a directory a run writes into (a train {@code output.dir}, a retrain root): the file
 * {@value #NAME} in it, created exclusively (a new file on the local filesystem, {@code create}
 * without overwrite elsewhere: atomic on HDFS, not on object stores), holding who holds it:
 * <pre>{"host":"worker-3","pid":4711,"pidStart":"2026-12-01T15:02:11.3Z","command":"train","started":"..."}</pre>
 * A second run on the same directory is refused with {@link LockedException}, naming the holder.
 * A lock whose holder ran on this host and is no longer alive (its pid is gone, or is now another
 * process) is stale: it is removed and taken. A lock from another host cannot be checked from here:
 * the message says to delete the file once that run is known to be dead.
 */
public final class RunLock implements AutoCloseable {
    /** The lock file's name inside the locked directory. */
    public static final String NAME = "_LOCK";

    /** The directory is locked by a live run (or by one on another host that cannot be checked). */
    public static final class LockedException extends IOException {
        private static final long serialVersionUID = 1L;

        LockedException(String message) {
            super(message);
        }
    }

    private final Path file;
    private final String content;
    private final Configuration conf;
    private final String staleNote;

    private RunLock(Path file, String content, Configuration conf, String staleNote) {
        this.file = file;
        this.content = content;
        this.conf = conf;
        this.staleNote = staleNote;
    }

    /**
     * Locks {@code dir} (created when missing) for {@code command}. {@code what} names the directory
     * in messages (e.g. "output.dir /data/run").
     */
    public static RunLock acquire(Path dir, String command, String what, Configuration conf) throws IOException {
        FileSystem fs = dir.getFileSystem(conf);
        Path file = new Path(dir, NAME);
        try {
            if (!fs.mkdirs(dir)) throw new IOException("cannot create directory " + dir);
        } catch (org.apache.hadoop.fs.FSError e) {
            throw WriteFailedException.of(dir.toString(), e);
        }
        String me = holder(command);
        String staleNote = null;
        for (int attempt = 0; attempt < 2; attempt++) {
            if (createNew(fs, file, me)) return new RunLock(file, me, conf, staleNote);
            String held;
            try {
                held = Publish.readRaw(file, conf);
            } catch (java.io.FileNotFoundException e) {
                continue; // released between our create and our read
            }
            Optional<String> stale = staleReason(held);
            if (stale.isEmpty()) {
                throw new LockedException(what + " is in use by another run: " + describe(held) + " (lock file " + file
                        + "). Wait for it to finish; if that run is dead, delete " + file + " and rerun");
            }
            staleNote = "removed the stale lock " + file + ": " + stale.get();
            fs.delete(file, false);
        }
        throw new LockedException(what + " is being locked by another run at the same time (lock file " + file + ")");
    }

    /** What {@link #acquire} had to clear before taking the lock (a stale lock), if anything. */
    public Optional<String> staleNote() {
        return Optional.ofNullable(staleNote);
    }

    public Path file() {
        return file;
    }

    /** Removes the lock file if it still is this run's. */
    @Override
    public void close() throws IOException {
        FileSystem fs = file.getFileSystem(conf);
        try {
            if (content.equals(Publish.readRaw(file, conf))) fs.delete(file, false);
        } catch (java.io.FileNotFoundException e) {
            // already gone (deleted by hand): nothing to release
        }
    }

    private static boolean createNew(FileSystem fs, Path file, String content) throws IOException {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        try {
            if (fs instanceof LocalFileSystem local) {
                // Hadoop's local create(overwrite=false) checks, then creates: not atomic. O_EXCL is.
                Files.write(local.pathToFile(file).toPath(), bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                return true;
            }
            try (OutputStream out = fs.create(file, false)) {
                out.write(bytes);
            }
            return true;
        } catch (FileAlreadyExistsException | org.apache.hadoop.fs.FileAlreadyExistsException e) {
            return false;
        } catch (IOException e) {
            if (fs.exists(file) && !(e instanceof java.nio.file.NoSuchFileException)) return false;
            throw WriteFailedException.of(file.toString(), e);
        } catch (org.apache.hadoop.fs.FSError e) {
            throw WriteFailedException.of(file.toString(), e);
        }
    }

    /** This process, as a lock's content. */
    static String holder(String command) {
        ObjectNode n = ModelDirectory.JSON.createObjectNode();
        n.put("host", hostName());
        ProcessHandle me = ProcessHandle.current();
        n.put("pid", me.pid());
        me.info().startInstant().ifPresent(i -> n.put("pidStart", i.toString()));
        n.put("command", command);
        n.put("started", Instant.now().toString());
        try {
            return ModelDirectory.JSON.writeValueAsString(n) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Why a lock's content is stale (its holder on this host is dead), or empty when it may be alive. */
    static Optional<String> staleReason(String held) {
        JsonNode n;
        try {
            n = ModelDirectory.JSON.readTree(held);
        } catch (IOException e) {
            return Optional.empty();
        }
        if (n == null || !n.has("pid") || !hostName().equals(n.path("host").asText())) return Optional.empty();
        long pid = n.get("pid").asLong();
        Optional<ProcessHandle> p = ProcessHandle.of(pid);
        if (p.isEmpty() || !p.get().isAlive()) return Optional.of("its holder, pid " + pid + " on this host, is no longer running");
        String start = n.path("pidStart").asText("");
        Optional<Instant> now = p.get().info().startInstant();
        if (!start.isEmpty() && now.isPresent() && !now.get().toString().equals(start)) {
            return Optional.of("pid " + pid + " on this host is now another process (started " + now.get() + ", the holder " + start + ")");
        }
        return Optional.empty();
    }

    private static String describe(String held) {
        try {
            JsonNode n = ModelDirectory.JSON.readTree(held);
            if (n != null && n.has("pid")) {
                return n.path("command").asText("?") + " as pid " + n.get("pid").asText() + " on host " + n.path("host").asText("?")
                        + ", started " + n.path("started").asText("?");
            }
        } catch (IOException e) {
            // not JSON: shown as it is
        }
        String t = held.strip();
        return "holder '" + (t.length() > 120 ? t.substring(0, 120) + "..." : t) + "'";
    }

    static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }
}
