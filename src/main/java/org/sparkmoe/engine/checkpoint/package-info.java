/**
 * Checkpoints of a training run on any Hadoop filesystem (docs/DESIGN.md section 7):
 * {@link org.sparkmoe.engine.checkpoint.CheckpointStore} (write, list, find the newest complete
 * one, read; expert shards written and read by the executors that hold them),
 * {@link org.sparkmoe.engine.checkpoint.CheckpointFiles} (the binary encoding, independent of Kryo
 * and Java serialization) and {@link org.sparkmoe.engine.checkpoint.CheckpointMeta} (the
 * {@code meta.json} written last).
 *
 * <p>Layer: engine. May depend on {@code org.sparkmoe.core.*}, Hadoop's FileSystem and Jackson;
 * not on the rest of the engine, nor on anything above it.
 */
package org.sparkmoe.engine.checkpoint;
