package org.sparkmoe.engine.checkpoint;

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
 * The local filesystem with a disk that fills up: once {@value #CAPACITY_KEY} bytes have been
 * written through this instance, every write fails as Hadoop's local filesystem fails on ENOSPC,
 * with an {@link FSError} wrapping "No space left on device". Install it for {@code file:} with
 * {@link #configure}; the configuration also turns off Hadoop's filesystem cache for that scheme,
 * so no other test gets this instance.
 */
public class FullDiskFileSystem extends LocalFileSystem {
    static final String CAPACITY_KEY = "test.fulldisk.capacityBytes";
    static final String SHARED_KEY = "test.fulldisk.shared";
    /** Bytes written through every instance configured by {@link #share}: one disk for a whole job. */
    public static final AtomicLong SHARED = new AtomicLong();
    private final AtomicLong written = new AtomicLong();

    /** A copy of {@code base} whose {@code file:} filesystem fills up after {@code capacity} bytes. */
    public static Configuration configure(Configuration base, long capacity) {
        Configuration c = new Configuration(base);
        c.set("fs.file.impl", FullDiskFileSystem.class.getName());
        c.setBoolean("fs.file.impl.disable.cache", true);
        c.setLong(CAPACITY_KEY, capacity);
        return c;
    }

    /**
     * Makes {@code conf} itself (a job's, with the instances it creates) fill up after {@code capacity}
     * bytes written through all of them together; {@link #unshare} undoes it.
     */
    public static void share(Configuration conf, long capacity) {
        SHARED.set(0);
        conf.set("fs.file.impl", FullDiskFileSystem.class.getName());
        conf.setBoolean("fs.file.impl.disable.cache", true);
        conf.setLong(CAPACITY_KEY, capacity);
        conf.setBoolean(SHARED_KEY, true);
    }

    public static void unshare(Configuration conf) {
        for (String k : new String[] {"fs.file.impl", "fs.file.impl.disable.cache", CAPACITY_KEY, SHARED_KEY}) conf.unset(k);
    }

    @Override
    public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize, short replication,
                                     long blockSize, Progressable progress) throws IOException {
        FSDataOutputStream real = super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
        long capacity = getConf().getLong(CAPACITY_KEY, Long.MAX_VALUE);
        AtomicLong counter = getConf().getBoolean(SHARED_KEY, false) ? SHARED : written;
        OutputStream filling = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (counter.addAndGet(len) > capacity) throw noSpace();
                real.write(b, off, len);
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
