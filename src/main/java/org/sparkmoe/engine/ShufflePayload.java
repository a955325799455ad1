package org.sparkmoe.engine;

/**
 * How float32 rows cross the step's shuffles. {@link #F32} sends them as they are. {@link #BF16}
 * rounds each value to bfloat16 (the top 16 bits of the float, round to nearest even) on the wire,
 * halving the bytes shuffled; everything is computed and accumulated in float32 as before, only
 * the values exchanged between partitions and experts lose mantissa bits (8 of 24 kept). The
 * rounding is deterministic, so recomputation and resume stay bit-identical. Float64 runs always
 * send float64.
 */
public enum ShufflePayload {
    F32, BF16
}
