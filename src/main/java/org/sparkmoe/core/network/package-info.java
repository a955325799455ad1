/**
 * The network around the MoE layer (docs/DESIGN.md section 5): input layers
 * ({@link org.sparkmoe.core.network.TokenContextEmbedding} for language models,
 * {@link org.sparkmoe.core.network.DenseProjection} for feature vectors), output heads with their
 * losses ({@link org.sparkmoe.core.network.SoftmaxCrossEntropyHead},
 * {@link org.sparkmoe.core.network.SquaredErrorHead}), the network
 * {@link org.sparkmoe.core.network.MoENetwork} with its parameters
 * {@link org.sparkmoe.core.network.ModelParameters} (shared group plus one group per expert), the
 * complete description {@link org.sparkmoe.core.network.NetworkSpec} (its map form read, as the
 * recurrent model's spec is too, through {@link org.sparkmoe.core.network.SpecFields}), and the examples:
 * {@link org.sparkmoe.core.network.RowBlock} (a partition's examples in compact columnar form, the
 * unit readers produce and the engine trains on) and {@link org.sparkmoe.core.network.Batch} (the
 * rows of one pass).
 *
 * <p>Layer: core. May depend on {@code core.layer}, {@code core.gating}, {@code core.expert},
 * {@code core.param}, {@code core.linalg} and the JDK; never on Spark or Scala.
 */
package org.sparkmoe.core.network;
