/**
 * The Spark step of the recurrent language model (paper section 5.1: embedding - LSTM - MoE - LSTM -
 * softmax, truncated BPTT): {@link org.sparkmoe.engine.sequence.SparkSequenceTrainer} and what its
 * data partitions do. Each data partition holds some of the S document streams with their positions
 * and LSTM state, runs both LSTMs over all of its sequences at once, and sends all of its S*T rows
 * through the MoE in one exchange ({@link org.sparkmoe.engine.ExpertExchange}: shuffle-routed, or
 * the experts broadcast to the rows under local routing). Depends on the core and the engine package.
 */
package org.sparkmoe.engine.sequence;
