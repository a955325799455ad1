package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.Arrays;

import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.param.Parameters;

/**
 * A step's one broadcast of parameters: the shared group (element 0) and, when the experts live on
 * the driver ({@link DriverExperts#beginStep(Parameters)}), every expert after it. One broadcast
 * rather than one per group: each costs its serialisation, a 4 MB block and a destroy per step.
 * Small; travels in task closures.
 */
record StepBroadcast(Broadcast<Parameters[]> broadcast) implements Serializable {

    /** The shared group (input layer, gating network, head). */
    Parameters value() {
        return broadcast.value()[0];
    }

    /** The experts by index (driver placement only). */
    Parameters[] experts() {
        Parameters[] all = broadcast.value();
        return Arrays.copyOfRange(all, 1, all.length);
    }

    /** Expert {@code e}'s parameters (driver placement only). */
    Parameters expert(int e) {
        return broadcast.value()[e + 1];
    }
}
