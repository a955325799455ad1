/**
 * The spark-submit job, one of the two faces of spark-moe: {@link org.sparkmoe.job.MoEJob} (the
 * entry point: train, evaluate, score, inspect, retrain, with the README's exit codes),
 * {@link org.sparkmoe.job.JobConfig} (keys documented in {@code conf/moe-job.properties}),
 * {@link org.sparkmoe.job.JobData} (training and held-out data), {@link org.sparkmoe.job.ModelDirectory}
 * (a saved model), {@link org.sparkmoe.job.Evaluator} (held-out evaluation and scoring) and
 * {@link org.sparkmoe.job.Charts}.
 *
 * <p>Layer: a face, at the top. May depend on {@code org.sparkmoe.core.*}, {@code org.sparkmoe.engine}
 * and its subpackages, {@code org.sparkmoe.data}, the application layer, and Spark; not on
 * {@code org.sparkmoe.ml} (the other face).
 */
package org.sparkmoe.job;
