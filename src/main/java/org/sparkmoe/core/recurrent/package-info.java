/**
 * The paper's recurrent language model (Shazeer et al. 2017, section 5.1 and appendix C): word
 * embedding, LSTM, MoE applied convolutionally to every timestep, LSTM, softmax, with dropout and a
 * residual connection around each layer, trained by truncated back-propagation through time over
 * windows of T tokens of S sequences ({@link org.sparkmoe.core.recurrent.SequenceBatch}) with the
 * LSTM state carried between windows of a document as explicit data
 * ({@link org.sparkmoe.core.recurrent.RecurrentState}). Also its table-7 baselines (LSTM-LSTM,
 * MoE-1-Wide) and the document streams that cut a corpus into windows.
 *
 * <p>Layer: core. May depend on {@code core.network} (the softmax head, parameter groups),
 * {@code core.layer}, {@code core.gating}, {@code core.expert}, {@code core.param},
 * {@code core.linalg}, {@code core.synthetic} (to read the built-in corpus) and the JDK; never on
 * Spark or Scala. {@code core.train} uses it, not the other way round.
 */
package org.sparkmoe.core.recurrent;
