/**
 * The application layer: what the job ({@code org.sparkmoe.job}) and the ML API
 * ({@code org.sparkmoe.ml}) share, so that they are one product with two faces.
 * <ul>
 *   <li>{@link org.sparkmoe.app.Settings} / {@link org.sparkmoe.app.Setting}: every setting declared
 *       once (job key, param name, rule, default, doc; the evaluator's params apart); the job's
 *       reference file and the ML params come from it, the PySpark wrappers from the ML params;</li>
 *   <li>{@link org.sparkmoe.app.MoEConfig}: the typed configuration of a run (network, engine,
 *       optimiser, run) with its one {@code validate}, giving the engine its
 *       {@code NetworkSpec}, {@code EngineConfig} and {@code TrainerConfig};</li>
 *   <li>{@link org.sparkmoe.app.TrainingLoop}: the one driver loop (resume, warm start,
 *       checkpoints, metrics) with {@link org.sparkmoe.app.RunListeners} (progress, divergence,
 *       balance history) and {@link org.sparkmoe.app.TrainingHistory} (each step's losses and
 *       balance columns: the estimators' training summaries);</li>
 *   <li>{@link org.sparkmoe.app.ModelDirectory} and {@link org.sparkmoe.app.ParameterTable}: the one
 *       saved-model layout both faces write and read (format 2; format 1's two layouts are still
 *       read), with a format version that is checked; {@link org.sparkmoe.app.RecurrentSpec}: what
 *       it records of a recurrent language model;</li>
 *   <li>{@link org.sparkmoe.app.Scorer}: the one scoring pass of the job's evaluate and score and
 *       the ML models' transform; {@link org.sparkmoe.app.RecurrentScorer}: the recurrent language
 *       model's (each document once, the LSTM state carried through it);</li>
 *   <li>{@link org.sparkmoe.app.Publish}: publishing a result by rename;</li>
 *   <li>{@link org.sparkmoe.app.RunLock}: the lock of a directory a run writes into (a train
 *       output.dir, a retrain root), with stale-lock detection.</li>
 * </ul>
 * Depends on {@code org.sparkmoe.core}, {@code org.sparkmoe.engine}, Spark and Hadoop; not on
 * {@code data}, {@code job} or {@code ml} (checked by {@code LayerTest}).
 */
package org.sparkmoe.app;
