/**
 * The Spark ML face of spark-moe: estimators ({@link org.sparkmoe.ml.MoEClassifier}, an MLlib
 * ProbabilisticClassifier; {@link org.sparkmoe.ml.MoERegressor}, a Regressor;
 * {@link org.sparkmoe.ml.MoELanguageModelEstimator}), their models
 * ({@link org.sparkmoe.ml.MoEClassificationModel}, {@link org.sparkmoe.ml.MoERegressionModel},
 * {@link org.sparkmoe.ml.MoELanguageModel}; what they share is {@link org.sparkmoe.ml.MoEModel}
 * over a FittedNetwork), their {@link org.sparkmoe.ml.MoETrainingSummary} (from the training
 * loop's history listener; held-out metrics by HeldOut), the {@link org.sparkmoe.ml.MoEPerplexityEvaluator},
 * params ({@link org.sparkmoe.ml.MoEParams}, their names, docs and defaults from the declared
 * settings of {@code org.sparkmoe.app.Settings}; ParamsConfig maps them to the typed configuration),
 * schema checks (Schemas), fitting through the application layer's loop (FeatureBlocks; Fitting, which
 * also nests fit in the caller's job group, stops it on cancellation and logs through MLlib's
 * Instrumentation),
 * scoring (FeatureCodec, LanguageModelCodec, BroadcastScoring), the recurrent language model of
 * paper section 5.1 (lmModel: RecurrentFitting on the sequence engine, RecurrentNetwork scoring each
 * document with the application layer's RecurrentScorer), ML persistence
 * ({@link org.sparkmoe.ml.MoEPersistence}: Spark's params metadata beside the one model layout of
 * the application layer, which the job writes too) and where a
 * fitted model's experts live ({@link org.sparkmoe.ml.ExpertTable}: on the driver, or
 * distributed on the executors and scored by {@link org.sparkmoe.ml.DistributedScoring}). Also
 * wrapped for PySpark ({@code src/main/python/sparkmoe}, generated from these classes by the tests'
 * {@code PySparkWrappers}).
 *
 * <p>Layer: a face, at the top. May depend on {@code org.sparkmoe.core.*}, {@code org.sparkmoe.engine}
 * and its subpackages, {@code org.sparkmoe.data}, the application layer, and Spark; not on
 * {@code org.sparkmoe.job} (the other face).
 */
package org.sparkmoe.ml;
