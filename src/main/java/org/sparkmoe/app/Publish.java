package org.sparkmoe.app;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.engine.checkpoint.WriteFailedException;

/**
 * Publishing by rename, on any Hadoop filesystem: a result (a model, a score table, a small file)
 * is written under a hidden temporary sibling of its target and renamed into place when complete,
 * so a reader of the target sees the old result or the new one, never half of one. Used by the
 * job's model directories, score output and pointer files, and by the ML models' saves.
 */
public final class Publish {
    private Publish() {
    }

    /** A fresh hidden temporary sibling of {@code target} ({@code .NAME.tmp-RANDOM}), not created. */
    public static Path tempName(Path target) {
        return new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID().toString().substring(0, 8));
    }

    /** A fresh temporary sibling of {@code target}, created as a directory, to build a result in. */
    public static Path tempSibling(Path target, Configuration conf) throws IOException {
        Path tmp = tempName(target);
        if (!tmp.getFileSystem(conf).mkdirs(tmp)) throw new IOException("cannot create " + tmp);
        return tmp;
    }

    /**
     * Publishes the finished {@code tmp} at {@code target} by renames: an existing {@code target} is
     * moved aside, {@code tmp} renamed into place, then the old one deleted. On failure the old
     * one is moved back and {@code tmp} is left for the caller to delete.
     */
    public static void publish(Path tmp, Path target, Configuration conf) throws IOException {
        FileSystem fs = target.getFileSystem(conf);
        Path aside = null;
        if (fs.exists(target)) {
            aside = new Path(target.getParent(), "." + target.getName() + ".old-" + UUID.randomUUID().toString().substring(0, 8));
            if (!fs.rename(target, aside)) throw new IOException("cannot move " + target + " aside to " + aside);
        }
        if (!fs.rename(tmp, target)) {
            if (aside != null) fs.rename(aside, target);
            throw new IOException("cannot rename " + tmp + " to " + target);
        }
        if (aside != null) fs.delete(aside, true);
    }

    /** A result written by {@code write} into a temporary sibling of {@code target}, then published; nothing is left on failure. */
    public interface Writer {
        void write(Path tmp) throws IOException;
    }

    public static void write(Path target, Configuration conf, Writer write) throws IOException {
        Path tmp = tempName(target);
        FileSystem fs = target.getFileSystem(conf);
        try {
            write.write(tmp);
            publish(tmp, target, conf);
        } catch (IOException | RuntimeException e) {
            fs.delete(tmp, true);
            throw e;
        }
    }

    /** Replaces a small file atomically: written to a temporary sibling, then renamed over it. */
    public static void replaceFile(Path file, String text, Configuration conf) throws IOException {
        Path tmp = tempName(file);
        try (OutputStream out = tmp.getFileSystem(conf).create(tmp, true)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException | FSError e) {
            tmp.getFileSystem(conf).delete(tmp, false);
            throw WriteFailedException.of(file.toString(), e);
        }
        FileContext fc = FileContext.getFileContext(file.toUri(), conf);
        try {
            fc.rename(tmp, file, Options.Rename.OVERWRITE);
        } catch (IOException e) {
            tmp.getFileSystem(conf).delete(tmp, false);
            throw e;
        }
    }

    public static String readText(Path file, Configuration conf) throws IOException {
        try (InputStream in = file.getFileSystem(conf).open(file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Writes a small file; a failure (a full disk included, which Hadoop's local filesystem throws as an Error) names it. */
    public static void writeText(Path file, String text, Configuration conf) throws IOException {
        try (OutputStream out = file.getFileSystem(conf).create(file, true)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException | FSError e) {
            throw WriteFailedException.of(file.toString(), e);
        }
    }

    /**
     * Reads a small file without checking its checksum file: a pointer file edited by hand (LATEST)
     * keeps its old {@code .crc}, which the checksummed local filesystem would otherwise refuse.
     */
    public static String readRaw(Path file, Configuration conf) throws IOException {
        FileSystem fs = file.getFileSystem(conf);
        if (fs instanceof ChecksumFileSystem c) fs = c.getRawFileSystem();
        try (InputStream in = fs.open(file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
