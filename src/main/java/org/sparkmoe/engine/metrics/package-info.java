/**
 * Per-step training metrics: {@link org.sparkmoe.engine.metrics.StepMetrics} (one step's losses,
 * balance columns, expert batch sizes, throughput and time per stage, as one JSON object) and
 * {@link org.sparkmoe.engine.metrics.MetricsLog} (the {@code metrics.jsonl} file it is appended to,
 * one line per step even across a stop and resume).
 *
 * <p>Layer: engine. May depend on {@code org.sparkmoe.core.*}, Hadoop's FileSystem, Jackson and
 * {@link org.sparkmoe.engine.checkpoint.WriteFailedException} (the engine's one type for a failed
 * write); not on the rest of the engine, nor on anything above it.
 */
package org.sparkmoe.engine.metrics;
