/**
 * Per-step training metrics: {@link org.sparkmoe.engine.metrics.StepMetrics} (one step's losses,
 * balance columns, expert batch sizes, throughput and time per stage, as one JSON object) and
 * {@link org.sparkmoe.engine.metrics.MetricsLog} (the {@code metrics.jsonl} file it is appended to).
 *
 * <p>Layer: engine. May depend on {@code org.sparkmoe.core.*}, Hadoop's FileSystem and Jackson;
 * not on the rest of the engine, nor on anything above it.
 */
package org.sparkmoe.engine.metrics;
