/**
 * Parameter groups as one flat vector each: {@link org.sparkmoe.core.param.ParameterLayout} (names
 * and shapes laid out back to back) and {@link org.sparkmoe.core.param.Parameters} (the values,
 * with a matrix view per named tensor). Gradients and optimiser moments use the same layout, so
 * aggregation, clipping, updates and serialisation work on one vector per group.
 *
 * <p>Layer: core. May depend on {@code core.linalg} and the JDK only; never on Spark or Scala.
 */
package org.sparkmoe.core.param;
