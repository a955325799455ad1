package org.sparkmoe.engine;

import org.apache.spark.api.java.JavaSparkContext;

/**
 * The job group and description of an engine's jobs (a step, a checkpoint, an evaluation). The
 * caller's job group (a notebook paragraph, an estimator's fit) stays in force, so cancelling it
 * cancels our jobs, and our description is nested after the caller's; without a caller's group ours
 * is used ({@code spark-moe-step-<t>}, {@code spark-moe-checkpoint-<t>}). {@link #restore} puts the
 * caller's back.
 */
public record JobLabel(JavaSparkContext sc, String ownGroup, String ownDescription, String group, String description,
                       String interrupt) {
    /** The label of our jobs, remembering the caller's group, description and interrupt flag now in force. */
    public JobLabel(JavaSparkContext sc, String ownGroup, String ownDescription) {
        this(sc, ownGroup, ownDescription, sc.getLocalProperty("spark.jobGroup.id"), sc.getLocalProperty("spark.job.description"),
                sc.getLocalProperty("spark.job.interruptOnCancel"));
    }

    /** Labels the following jobs: ours, with {@code what} appended to our description. */
    public JobLabel set(String what) {
        if (group == null) {
            sc.setJobGroup(ownGroup, ownDescription + what, false);
        } else {
            sc.setJobGroup(group, (description == null ? "" : description + " > ") + ownDescription + what, Boolean.parseBoolean(interrupt));
        }
        return this;
    }

    /** Puts the caller's group, description and interrupt flag back. */
    public void restore() {
        sc.setLocalProperty("spark.jobGroup.id", group);
        sc.setLocalProperty("spark.job.description", description);
        sc.setLocalProperty("spark.job.interruptOnCancel", interrupt);
    }
}
