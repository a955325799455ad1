/**
 * Readers that turn input into the {@link org.sparkmoe.core.network.RowBlock}s the engine trains on,
 * on the executors and never collected: text ({@link org.sparkmoe.data.TextSource},
 * {@link org.sparkmoe.data.Tokenizer}, {@link org.sparkmoe.data.Vocabulary},
 * {@link org.sparkmoe.data.LanguageModelData}) and feature vectors from libsvm, parquet or CSV
 * ({@link org.sparkmoe.data.FeatureSource}, {@link org.sparkmoe.data.FeatureTable},
 * {@link org.sparkmoe.data.FeatureSplit}; bad input is a
 * {@link org.sparkmoe.data.FeatureDataException} naming file, row and column). Text that is not
 * text (random bytes, binary or compressed data) is a {@link org.sparkmoe.data.TextDataException}
 * naming the file; {@link org.sparkmoe.data.LanguageModelData.Examples} reports each part's
 * out-of-vocabulary rate.
 *
 * <p>Layer: data, beside the application layer above the engine. May depend on
 * {@code org.sparkmoe.core.*}, Spark and Hadoop; not on {@code engine} (the row blocks are a core
 * type), {@code job} or {@code ml}.
 */
package org.sparkmoe.data;
