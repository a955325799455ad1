package org.sparkmoe.job;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * The local filesystem with one disk shared by every instance, which fills up: once
 * {@link #capacity} bytes have been written through Hadoop, every write fails as Hadoop's local
 * filesystem fails on ENOSPC, with an {@link FSError} wrapping "No space left on device".
 * {@link #install} puts it on a configuration (the job's) for {@code file:}; {@link #uninstall} undoes that.
 */
public class FillingFileSystem extends LocalFileSystem {
    static final AtomicLong WRITTEN = new AtomicLong();
    static volatile long capacity = Long.MAX_VALUE;

    static void install(Configuration conf, long bytes) {
        WRITTEN.set(0);
        capacity = bytes;
        conf.set("fs.file.impl", FillingFileSystem.class.getName());
        conf.setBoolean("fs.file.impl.disable.cache", true);
    }

    static void uninstall(Configuration conf) {
        conf.unset("fs.file.impl");
        conf.unset("fs.file.impl.disable.cache");
        capacity = Long.MAX_VALUE;
    }

    @Override
    public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize, short replication,
                                     long blockSize, Progressable progress) throws IOException {
        FSDataOutputStream real = super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
        OutputStream filling = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (WRITTEN.addAndGet(len) > capacity) throw noSpace();
                real.write(b, off, len);
            }

            @Override
            public void flush() throws IOException {
                real.flush();
            }

            @Override
            public void close() throws IOException {
                real.close();
            }
        };
        return new FSDataOutputStream(filling, statistics);
    }

    /** What RawLocalFileSystem throws when the OS says ENOSPC (FSError's constructor is package-private). */
    static FSError noSpace() {
        try {
            Constructor<FSError> c = FSError.class.getDeclaredConstructor(Throwable.class);
            c.setAccessible(true);
            return c.newInstance(new IOException("No space left on device"));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
