package org.sparkmoe.ml;

import org.sparkmoe.core.network.NetworkSpec;

/** The estimators' and models' toString, in MLlib's style ("Class: uid=..., key=value, ..."). */
final class Describe {
    private Describe() {
    }

    /** An estimator: its uid and the network its params describe. */
    static String estimator(MoEParams<?> p) {
        String gating = p.getGating();
        String experts = gating.equals("hierarchical")
                ? "numExperts=" + p.getNumGroups() * p.getExpertsPerGroup() + " (" + p.getNumGroups() + "x" + p.getExpertsPerGroup()
                        + "), k=" + p.getKPrimary() + "x" + p.getKSecondary()
                : "numExperts=" + p.getNumExperts() + ", k=" + (gating.equals("softmax") ? p.getNumExperts() : p.getK());
        return p.getClass().getSimpleName() + ": uid=" + p.uid() + ", gating=" + gating + ", " + experts + ", d=" + p.getModelDim()
                + ", h=" + p.getExpertHiddenSize() + ", maxSteps=" + p.getMaxSteps();
    }

    /** A model: its uid, the network it holds and where its experts are; {@code extra} is the task's sizes. */
    static String model(MoEModel<?> m, String extra) {
        NetworkSpec s = m.spec();
        return m.getClass().getSimpleName() + ": uid=" + ((org.apache.spark.ml.util.Identifiable) m).uid() + ", gating=" + s.gating()
                + ", numExperts=" + s.numExperts() + ", k=" + k(s) + ", d=" + s.modelDim() + ", h=" + s.expertHidden() + ", " + extra
                + ", experts " + (m.isDistributed() ? "distributed" : "on the driver");
    }

    private static String k(NetworkSpec s) {
        return switch (s.gating()) {
            case SOFTMAX -> Integer.toString(s.numExperts());
            case NOISY_TOP_K -> Integer.toString(s.k());
            case HIERARCHICAL -> s.kPrimary() + "x" + s.kSecondary();
        };
    }
}
