/**
 * Dense row-major matrices and the GEMM behind every layer: {@link org.sparkmoe.core.linalg.Matrix}
 * ({@link org.sparkmoe.core.linalg.FloatMatrix} for float32 training,
 * {@link org.sparkmoe.core.linalg.DoubleMatrix} for float64 checks, chosen by
 * {@link org.sparkmoe.core.linalg.Precision}), reusable {@link org.sparkmoe.core.linalg.Buffers},
 * and the GEMM back ends ({@link org.sparkmoe.core.linalg.GemmBackends} picks per JVM among native
 * BLAS through netlib, netlib's Java BLAS, ojAlgo and plain loops; docs/DESIGN.md section 5).
 *
 * <p>Layer: core, the bottom. May depend on the JDK, ojAlgo and, where present (both are
 * {@code provided}), dev.ludovic.netlib and slf4j; on no other spark-moe package, and never on
 * Spark or Scala.
 */
package org.sparkmoe.core.linalg;
