/**
 * Checkpoints of a training run on any Hadoop filesystem (docs/DESIGN.md section 7):
 * {@link org.sparkmoe.engine.checkpoint.CheckpointStore} (write, list, find the newest complete
 * one, read; expert shards written and read by the executors that hold them),
 * {@link org.sparkmoe.engine.checkpoint.CheckpointFiles} (the binary encoding, independent of Kryo
 * and Java serialization) and {@link org.sparkmoe.engine.checkpoint.CheckpointMeta} (the
 * {@code meta.json} written last). A file that cannot be trusted (truncated, failing its checksum,
 * holding NaN or infinite values) is a {@link org.sparkmoe.engine.checkpoint.CorruptCheckpointException};
 * a write the filesystem refused (a full disk) is a
 * {@link org.sparkmoe.engine.checkpoint.WriteFailedException}; both name the file.
 *
 * <p>Layer: engine. May depend on {@code org.sparkmoe.core.*}, Hadoop's FileSystem and Jackson;
 * not on the rest of the engine, nor on anything above it.
 */
package org.sparkmoe.engine.checkpoint;
