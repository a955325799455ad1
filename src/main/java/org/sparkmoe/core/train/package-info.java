/**
 * Training in one JVM: {@link org.sparkmoe.core.train.ReferenceTrainer}, the oracle the Spark engine
 * must agree with step for step (and whose update rule the engine's driver reuses),
 * {@link org.sparkmoe.core.train.TrainerConfig} (optimiser, schedule, clipping, seed, precision),
 * {@link org.sparkmoe.core.train.TrainingState} (everything a checkpoint holds) and the Spark-free
 * demo {@link org.sparkmoe.core.train.Quickstart}; for the recurrent language model over windows of
 * sequences, {@link org.sparkmoe.core.train.SequenceTrainer} (the same update, plus the carried LSTM
 * state).
 *
 * <p>Layer: core, the top of it. May depend on every other {@code core} package and the JDK; never
 * on Spark or Scala.
 */
package org.sparkmoe.core.train;
