package org.sparkmoe.engine;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Task results handed to the driver by reference, with a local master (the tasks run in the
 * driver's JVM): a task puts its partition's elements into this JVM's table under (job, task
 * attempt) and returns only the attempt's id, and the driver takes the elements out. The real path
 * copies a result about six times between the executor's serializer and the driver (the value, the
 * {@code DirectTaskResult} around it, its chunks merged, read back, deserialised): for the shuffle
 * routing's aggregation records, whose shared gradient holds the gate's 2·d·n weights, that was the
 * step's allocation growing with n (BENCHMARKS.md, "Session-8 engine work" and "Session-9 engine
 * work"). The driver gets the objects the task built, as a {@link StepBroadcast.LocalHandoff} gives
 * tasks the driver's: they are the step's own (fresh, or the step's pooled buffers), which the driver
 * may sum into, as it does deserialised copies.
 *
 * <p>A job's entries live from {@link #open} to {@link #close}, which the driver calls when the job
 * ends, succeeded or failed: the results of failed, retried or speculative attempts that the driver
 * never took are dropped with it, and a task that finishes after its job ended finds no table and
 * keeps nothing. Clusters keep Spark's path (a task elsewhere finds no table and fails).
 */
final class LocalResults {
    private static final AtomicLong NEXT = new AtomicLong();
    /** Per open job, its tasks' results by task attempt id. */
    private static final Map<Long, Map<Long, Object[]>> JOBS = new ConcurrentHashMap<>();

    private LocalResults() {
    }

    /** A new job's key, its table open until {@link #close}. */
    static long open() {
        long job = NEXT.getAndIncrement();
        JOBS.put(job, new ConcurrentHashMap<>());
        return job;
    }

    /** Drops the job's table and every result left in it. */
    static void close(long job) {
        JOBS.remove(job);
    }

    /** Task side: keeps {@code elements} for the driver under this attempt, returning the attempt's id. */
    static long put(long job, long attempt, Object[] elements) {
        Map<Long, Object[]> results = JOBS.get(job);
        if (results == null) {
            throw new IllegalStateException("local task results of job key " + job
                    + ": no open job in this JVM (ended, or the task runs outside the driver's JVM)");
        }
        results.put(attempt, elements);
        return attempt;
    }

    /** Driver side: the elements a successful attempt kept, removed from the table. */
    static Object[] take(long job, long attempt) {
        Map<Long, Object[]> results = JOBS.get(job);
        Object[] elements = results == null ? null : results.remove(attempt);
        if (elements == null) throw new IllegalStateException("local task results of job key " + job + ", attempt " + attempt + " are missing");
        return elements;
    }

    /** Jobs with an open table (tests: none once a job has ended). */
    static int openJobs() {
        return JOBS.size();
    }

    /** A partition's elements kept in the table; the task's result is the attempt id (a {@code Long}). */
    static final class Keep<T> extends scala.runtime.AbstractFunction2<org.apache.spark.TaskContext, scala.collection.Iterator<T>,
            Object[]> implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        private final long job;

        Keep(long job) {
            this.job = job;
        }

        @Override
        public Object[] apply(org.apache.spark.TaskContext context, scala.collection.Iterator<T> it) {
            return new Object[]{put(job, context.taskAttemptId(), SparkMoETrainer.ToArray.elements(it))};
        }
    }
}
