package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.param.Parameters;

/** A data partition's contribution to a step: its share of the shared-parameter gradient and loss. */
public record PartitionResult(int partition, Parameters sharedGrad, double lossSum, int examples) implements Serializable {
}
