package org.sparkmoe.engine.metrics;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Appends one JSON object per line ({@link StepMetrics#toJson()}) to a file, flushing after every
 * line so a crashed run leaves only complete lines (at worst a final partial line, which
 * {@link #read} skips and the next {@link MetricsLog} on the same file terminates).
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
    private final OutputStream out;
    private final FSDataOutputStream hadoopOut;

    /** Opens (creating or appending to) the log at {@code path}. */
    public MetricsLog(String path, Configuration conf) throws IOException {
        this.path = path;
        Path p = new Path(path);
        String scheme = p.toUri().getScheme();
        if (scheme == null || scheme.equals("file")) {
            java.nio.file.Path local = Paths.get(p.toUri().getPath());
            if (local.getParent() != null) Files.createDirectories(local.getParent());
            terminatePartialLine(local);
            out = Files.newOutputStream(local, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
            hadoopOut = null;
        } else {
            FileSystem fs = p.getFileSystem(conf);
            try {
                hadoopOut = fs.exists(p) ? fs.append(p) : fs.create(p, false);
            } catch (UnsupportedOperationException e) {
                throw new IOException("metrics log " + path + ": " + fs.getScheme()
                        + " cannot append to an existing file; use a local or HDFS path or a new file name", e);
            }
            out = hadoopOut;
        }
    }

    /** A local file. */
    public MetricsLog(java.nio.file.Path local) throws IOException {
        this(local.toAbsolutePath().toUri().toString(), new Configuration(false));
    }

    /** Writes one line and flushes it to the filesystem. */
    public synchronized void append(StepMetrics m) throws IOException {
        out.write((m.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
        if (hadoopOut != null) hadoopOut.hflush();
        else out.flush();
    }

    public String path() {
        return path;
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }

    /** A crashed writer may have left half a line: end it so the next line starts cleanly. */
    private static void terminatePartialLine(java.nio.file.Path local) throws IOException {
        if (!Files.exists(local) || Files.size(local) == 0) return;
        try (RandomAccessFile f = new RandomAccessFile(local.toFile(), "rw")) {
            f.seek(f.length() - 1);
            if (f.read() != '\n') f.write('\n');
        }
    }

    /**
     * Reads a log back. A line that is not a whole JSON object (a write cut short by a crash) is
     * skipped; a whole object that does not parse as {@link StepMetrics} is an error naming the line.
     */
    public static List<StepMetrics> read(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        List<String> lines = new ArrayList<>();
        try (InputStream in = p.getFileSystem(conf).open(p);
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) lines.add(line);
        }
        List<StepMetrics> out = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).trim();
            if (line.isEmpty()) continue;
            try {
                out.add(StepMetrics.parse(line));
            } catch (IOException e) {
                // A partial line (crash mid-write) is never a complete JSON object: skip it. Other
                // garbage fails below, since a partial line cannot start with '{' and end with '}'.
                if (line.startsWith("{") && line.endsWith("}")) {
                    throw new IOException("metrics log " + path + " line " + (i + 1) + ": " + e.getMessage(), e);
                }
            }
        }
        return out;
    }
}
