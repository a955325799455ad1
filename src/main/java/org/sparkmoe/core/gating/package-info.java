/**
 * The gating network G and the balancing losses (paper sections 2.1 and 4, appendices A and B;
 * docs/DESIGN.md sections 2-4): {@link org.sparkmoe.core.gating.Gating} (the contract: sparse gates
 * per row plus additive batch statistics), {@link org.sparkmoe.core.gating.NoisyTopKGating} (eq. 2-5,
 * with the smooth load estimator of eq. 8-10), {@link org.sparkmoe.core.gating.HierarchicalGating}
 * (eq. 12-14), Importance and Load losses through
 * {@link org.sparkmoe.core.gating.CoefficientOfVariation},
 * {@link org.sparkmoe.core.gating.BalanceWeights} and {@link org.sparkmoe.core.gating.BalanceResult},
 * the deterministic gate noise {@link org.sparkmoe.core.gating.GateNoise}, the normal distribution's
 * CDF and density in full precision ({@link org.sparkmoe.core.gating.NormalDistribution}) and, for the
 * float32 path's per-(row, expert) loops, softplus, Phi and phi from interpolation tables
 * ({@code FloatGateFunctions}).
 *
 * <p>Layer: core. May depend on {@code core.linalg}, {@code core.param} and the JDK; never on
 * Spark or Scala.
 */
package org.sparkmoe.core.gating;
