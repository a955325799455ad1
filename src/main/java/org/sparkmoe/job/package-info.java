/**
 * The spark-submit job, one of the two faces of spark-moe: {@link org.sparkmoe.job.MoEJob} (the
 * entry point, with the README's exit codes) and one class per subcommand (TrainCommand,
 * EvaluateCommand, ScoreCommand, InspectCommand, RetrainCommand, RollbackCommand, sharing Command;
 * {@link org.sparkmoe.job.PublishRoot} reads a retrain root's LATEST and WITHDRAWN),
 * {@link org.sparkmoe.job.JobConfig} (the job's keys over the declared settings of
 * {@code org.sparkmoe.app.Settings}; reference text in {@code conf/moe-job.properties}),
 * {@link org.sparkmoe.job.JobData} (training and held-out data), {@link org.sparkmoe.job.Evaluator}
 * (held-out evaluation and scoring), {@link org.sparkmoe.job.RecurrentLm} (the recurrent language
 * model's documents, its spec from the job's keys, a saved one read back; {@code lm.model}) and {@link org.sparkmoe.job.Charts}. The model directory, the
 * driver loop and publishing by rename are the application layer's.
 *
 * <p>Layer: a face, at the top. May depend on {@code org.sparkmoe.core.*}, {@code org.sparkmoe.engine}
 * and its subpackages, {@code org.sparkmoe.data}, the application layer, and Spark; not on
 * {@code org.sparkmoe.ml} (the other face).
 */
package org.sparkmoe.job;
