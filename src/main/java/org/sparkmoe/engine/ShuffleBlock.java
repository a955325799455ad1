package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.linalg.Matrix;

/**
 * The unit that crosses the shuffle: the rows one data partition exchanges with one expert in one
 * direction (inputs for the expert, its outputs back, gate-weighted output gradients, input
 * gradients back). Rows are in the data partition's routing order for that expert.
 */
public record ShuffleBlock(int partition, int expert, Matrix rows) implements Serializable {
}
