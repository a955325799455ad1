package org.sparkmoe.engine.checkpoint;

import java.io.IOException;

/**
 * A checkpoint or saved-model parameter file that cannot be trusted: not a spark-moe file, cut
 * short, failing the filesystem's checksum, inconsistent with its meta.json, or holding a NaN or
 * infinite value (garbage bytes on a filesystem without checksums read as floats). The message
 * names the file and what was being read; {@link #file()} is the file.
 *
 * <p>For a job reading a model the user named, this is bad input (the file is unusable, nothing
 * is retried); rerunning will not help until the file is replaced.
 */
public class CorruptCheckpointException extends IOException {
    private static final long serialVersionUID = 1L;
    private final String file;

    public CorruptCheckpointException(String file, String message, Throwable cause) {
        super(message, cause);
        this.file = file;
    }

    /** The file that failed to read. */
    public String file() {
        return file;
    }
}
