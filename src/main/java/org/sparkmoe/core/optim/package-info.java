/**
 * Parameter updates (docs/DESIGN.md section 5): the {@link org.sparkmoe.core.optim.Optimiser}
 * contract with {@link org.sparkmoe.core.optim.Adam} (the paper's optimiser) and
 * {@link org.sparkmoe.core.optim.Sgd}, their per-group {@link org.sparkmoe.core.optim.OptimiserState},
 * the {@link org.sparkmoe.core.optim.LearningRateSchedule} (the paper's warm-up then inverse square
 * root decay) and global-norm {@link org.sparkmoe.core.optim.GradientClipping}.
 *
 * <p>Layer: core. May depend on {@code core.param}, {@code core.linalg} and the JDK; never on
 * Spark or Scala.
 */
package org.sparkmoe.core.optim;
