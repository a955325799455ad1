/**
 * The Sparsely-Gated Mixture-of-Experts layer itself, y = sum_i G(x)_i E_i(x) (paper eq. 1;
 * docs/DESIGN.md section 1): {@link org.sparkmoe.core.layer.MoELayer} (gate, dispatch, experts,
 * combine and their backward passes, the stages a distributed step also runs) and
 * {@link org.sparkmoe.core.layer.Routing} (a block's rows grouped by expert).
 *
 * <p>Layer: core. May depend on {@code core.gating}, {@code core.expert}, {@code core.param},
 * {@code core.linalg} and the JDK; never on Spark or Scala.
 */
package org.sparkmoe.core.layer;
