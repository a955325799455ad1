/**
 * The experts E_i of the MoE layer (paper section 2): {@link org.sparkmoe.core.expert.Expert}, a
 * feed-forward network d -> h (ReLU) -> d run on whole expert batches, and its reusable
 * {@link org.sparkmoe.core.expert.ExpertWorkspace} of activations for the backward pass. Each
 * expert's parameters are their own group, so experts can be sharded (docs/DESIGN.md section 1).
 *
 * <p>Layer: core. May depend on {@code core.linalg}, {@code core.param} and the JDK; never on
 * Spark or Scala.
 */
package org.sparkmoe.core.expert;
