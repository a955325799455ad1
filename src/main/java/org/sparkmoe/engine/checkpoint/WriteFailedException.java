package org.sparkmoe.engine.checkpoint;

import java.io.IOException;

import org.apache.hadoop.fs.FSError;

/**
 * Writing a checkpoint, saved-model or metrics file failed: the filesystem refused it (full disk,
 * quota, permissions, a lost connection). The message names the path and the filesystem's
 * reason; nothing half-written is left under the final name (files are written to a temporary
 * name and renamed). Hadoop's local filesystem reports an I/O error as an {@link FSError} (an
 * {@link Error}, which nothing else catches); {@link #of} turns it into this exception.
 *
 * <p>{@link #outOfSpace()} tells a full disk or exhausted quota from other failures: free space and
 * rerun, and training resumes from the last committed checkpoint.
 */
public class WriteFailedException extends IOException {
    private static final long serialVersionUID = 1L;
    private final String path;
    private final boolean outOfSpace;

    private WriteFailedException(String path, Throwable cause, boolean outOfSpace) {
        super("cannot write " + path + ": " + reason(cause) + (outOfSpace ? " (the filesystem is full or over quota: free space "
                + "and rerun; training resumes from the last checkpoint)" : ""), cause);
        this.path = path;
        this.outOfSpace = outOfSpace;
    }

    /** The failure of writing {@code path}, or {@code failure} itself when it already is one. */
    public static WriteFailedException of(String path, Throwable failure) {
        if (failure instanceof WriteFailedException w) return w;
        Throwable cause = failure instanceof FSError && failure.getCause() != null ? failure.getCause() : failure;
        return new WriteFailedException(path, cause, isOutOfSpace(cause));
    }

    /** The path whose write failed. */
    public String path() {
        return path;
    }

    /** Whether the filesystem ran out of space or quota (ENOSPC, EDQUOT, HDFS quota exceptions). */
    public boolean outOfSpace() {
        return outOfSpace;
    }

    private static boolean isOutOfSpace(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage();
            if (m != null && (m.contains("No space left on device") || m.contains("Disk quota exceeded"))) return true;
            if (c.getClass().getSimpleName().endsWith("QuotaExceededException")) return true;
        }
        return false;
    }

    private static String reason(Throwable t) {
        return t.getMessage() != null ? t.getMessage() : t.getClass().getName();
    }
}
