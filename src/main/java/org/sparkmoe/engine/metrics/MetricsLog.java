package org.sparkmoe.engine.metrics;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.engine.checkpoint.WriteFailedException;

/**
 * Appends one JSON object per line ({@link StepMetrics#toJson()}) to a file, flushing after every
 * line so a crashed run leaves only complete lines (at worst a final partial line, which is dropped).
 *
 * <p>One line per step, in step order, whatever was stopped and resumed: a line for step {@code s}
 * supersedes every earlier line for a step {@code >= s}. A run resumed from the checkpoint of step
 * 100 after being killed at step 105 trains steps 101..105 again; the first of them to be appended
 * removes the lines 101..105 of the killed attempt (the file is rewritten to a temporary sibling
 * and renamed over, so a reader sees the old or the new file, never half of one). Opening a log
 * also cleans up what a crashed writer or an older build left (a partial last line, superseded
 * lines), and {@link #read} applies the same rule.
 *
 * <p>Filesystems: a path without a scheme or with {@code file:} is written with plain Java I/O in
 * append mode. Any other scheme goes through Hadoop's {@link FileSystem}: the file is created, or
 * opened with {@link FileSystem#append} if it exists, and {@code hflush}ed per line; this suits HDFS.
 * Object stores (s3a, gs, ...) cannot append, so there an existing file is an error, and a new
 * file becomes visible only on {@link #close()}: point the log at a local or HDFS path, or a new
 * per-run name, for live metrics.
 */
public final class MetricsLog implements Closeable {
    private final String path;
    private final Path hadoopPath;
    /** Non-null for a local file. */
    private final java.nio.file.Path local;
    private final FileSystem fs;
    private OutputStream out;
    private FSDataOutputStream hadoopOut;
    /** The step of the last line in the file, or -1 when it has none. */
    private long lastStep;

    /** Opens (creating or appending to) the log at {@code path}. */
    public MetricsLog(String path, Configuration conf) throws IOException {
        this.path = path;
        this.hadoopPath = new Path(path);
        String scheme = hadoopPath.toUri().getScheme();
        if (scheme == null || scheme.equals("file")) {
            local = Paths.get(hadoopPath.toUri().getPath());
            fs = null;
            if (local.getParent() != null) Files.createDirectories(local.getParent());
        } else {
            local = null;
            fs = hadoopPath.getFileSystem(conf);
        }
        List<String> lines = readLines();
        List<Line> kept = supersede(lines, path);
        lastStep = kept.isEmpty() ? -1 : kept.get(kept.size() - 1).step();
        if (kept.size() != lines.size() || !endsWithNewline()) rewrite(kept);
        open();
    }

    /** A local file. */
    public MetricsLog(java.nio.file.Path local) throws IOException {
        this(local.toAbsolutePath().toUri().toString(), new Configuration(false));
    }

    /**
     * Writes one line and flushes it to the filesystem. A step at or below the last one in the
     * file (a resumed run redoing steps) first removes the lines from that step on.
     */
    public synchronized void append(StepMetrics m) throws IOException {
        try {
            if (m.step() <= lastStep) {
                out.close();
                List<Line> kept = new ArrayList<>();
                for (Line l : supersede(readLines(), path)) if (l.step() < m.step()) kept.add(l);
                rewrite(kept);
                open();
            }
            out.write((m.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
            if (hadoopOut != null) hadoopOut.hflush();
            else out.flush();
        } catch (IOException | FSError e) {
            // a full disk: Java I/O says "No space left on device" without the path, Hadoop's local FS throws FSError
            throw WriteFailedException.of(path, e);
        }
        lastStep = m.step();
    }

    public String path() {
        return path;
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }

    private void open() throws IOException {
        if (local != null) {
            out = Files.newOutputStream(local, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
            hadoopOut = null;
            return;
        }
        try {
            hadoopOut = fs.exists(hadoopPath) ? fs.append(hadoopPath) : fs.create(hadoopPath, false);
        } catch (UnsupportedOperationException e) {
            throw new IOException("metrics log " + path + ": " + fs.getScheme()
                    + " cannot append to an existing file; use a local or HDFS path or a new file name", e);
        }
        out = hadoopOut;
    }

    private List<String> readLines() throws IOException {
        if (local != null) {
            return Files.exists(local) ? Files.readAllLines(local, StandardCharsets.UTF_8) : List.of();
        }
        if (!fs.exists(hadoopPath)) return List.of();
        return readAll(fs.open(hadoopPath));
    }

    private boolean endsWithNewline() throws IOException {
        if (local != null) {
            if (!Files.exists(local) || Files.size(local) == 0) return true;
            try (var ch = Files.newByteChannel(local)) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
                ch.position(ch.size() - 1).read(b);
                return b.get(0) == '\n';
            }
        }
        if (!fs.exists(hadoopPath)) return true;
        long len = fs.getFileStatus(hadoopPath).getLen();
        if (len == 0) return true;
        try (var in = fs.open(hadoopPath)) {
            in.seek(len - 1);
            return in.read() == '\n';
        }
    }

    /** Replaces the file by {@code lines}: written to a temporary sibling, then renamed over it. */
    private void rewrite(List<Line> lines) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (Line l : lines) sb.append(l.text).append('\n');
        byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
        String tmpName = "." + hadoopPath.getName() + ".tmp-" + UUID.randomUUID().toString().substring(0, 8);
        if (local != null) {
            java.nio.file.Path tmp = local.resolveSibling(tmpName);
            try {
                Files.write(tmp, bytes);
                Files.move(tmp, local, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
            return;
        }
        Path tmp = new Path(hadoopPath.getParent(), tmpName);
        try {
            try (OutputStream o = fs.create(tmp, true)) {
                o.write(bytes);
            }
            fs.delete(hadoopPath, false);
            if (!fs.rename(tmp, hadoopPath)) throw new IOException("metrics log " + path + ": cannot rename " + tmp + " over it");
        } finally {
            fs.delete(tmp, false);
        }
    }

    /** A whole line of the log and its step. */
    private record Line(String text, StepMetrics metrics) {
        long step() {
            return metrics.step();
        }
    }

    /**
     * The whole lines of {@code raw} that the rule keeps: a line that is not a whole JSON object (a
     * write cut short by a crash) is dropped, and a line for step s drops the earlier lines for steps
     * {@code >= s}. A whole object that does not parse as {@link StepMetrics} is an error naming the line.
     */
    private static List<Line> supersede(List<String> raw, String path) throws IOException {
        List<Line> kept = new ArrayList<>(raw.size());
        for (int i = 0; i < raw.size(); i++) {
            String line = raw.get(i).trim();
            if (line.isEmpty()) continue;
            // A partial line (crash mid-write) is never a complete JSON object: skip it. Other
            // garbage fails, since a partial line cannot start with '{' and end with '}'.
            if (!(line.startsWith("{") && line.endsWith("}"))) continue;
            StepMetrics m;
            try {
                m = StepMetrics.parse(line);
            } catch (IOException e) {
                throw new IOException("metrics log " + path + " line " + (i + 1) + ": " + e.getMessage(), e);
            }
            while (!kept.isEmpty() && kept.get(kept.size() - 1).step() >= m.step()) kept.remove(kept.size() - 1);
            kept.add(new Line(line, m));
        }
        return kept;
    }

    private static List<String> readAll(InputStream stream) throws IOException {
        List<String> lines = new ArrayList<>();
        try (InputStream in = stream;
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) lines.add(line);
        }
        return lines;
    }

    /**
     * Reads a log back: one entry per step in step order, by the rule above (partial lines skipped,
     * superseded lines dropped). A whole object that does not parse as {@link StepMetrics} is an
     * error naming the line.
     */
    public static List<StepMetrics> read(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        List<StepMetrics> out = new ArrayList<>();
        for (Line l : supersede(readAll(p.getFileSystem(conf).open(p)), path)) out.add(l.metrics());
        return out;
    }
}
