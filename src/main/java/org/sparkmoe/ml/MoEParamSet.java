package org.sparkmoe.ml;

import java.io.Serializable;
import java.util.Arrays;

import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.Params;

import scala.Function1;

/**
 * The {@link org.apache.spark.ml.param.Param} objects of one estimator or model instance (Spark finds
 * them through the public no-argument methods of {@link MoEParams}, which return these fields). Created
 * with the owner's uid, before anything asks the owner for its params; {@link #applyDefaults} then sets
 * the defaults on the owner.
 */
public final class MoEParamSet implements Serializable {
    private static final long serialVersionUID = 1L;

    public static final String[] GATINGS = {"softmax", "noisyTopK", "hierarchical"};
    public static final String[] ROUTINGS = {"shuffle", "local"};
    public static final String[] PLACEMENTS = {"driver", "sharded"};

    final IntParam numExperts;
    final IntParam k;
    final IntParam expertHiddenSize;
    final IntParam modelDim;
    final Param<String> gating;
    final IntParam numGroups;
    final IntParam expertsPerGroup;
    final IntParam kPrimary;
    final IntParam kSecondary;
    final DoubleParam wImportance;
    final DoubleParam wLoad;
    final Param<String> routing;
    final Param<String> placement;
    final IntParam expertShards;
    final IntParam batchSize;
    final IntParam maxSteps;
    final DoubleParam stepSize;
    final IntParam warmupSteps;
    final DoubleParam clipNorm;
    final LongParam seed;
    final IntParam checkpointInterval;
    final Param<String> checkpointDir;
    final Param<String> featuresCol;
    final Param<String> labelCol;
    final Param<String> predictionCol;
    final Param<String> probabilityCol;
    final Param<String> rawPredictionCol;
    final Param<String> expertsCol;
    final Param<String> initialModelPath;

    MoEParamSet(String uid) {
        numExperts = intParam(uid, "numExperts", "number of experts n of a flat gating (softmax, noisyTopK); >= 1", 1);
        k = intParam(uid, "k", "experts per example of noisyTopK gating; in [1, numExperts]", 1);
        expertHiddenSize = intParam(uid, "expertHiddenSize", "hidden width h of each expert; >= 1", 1);
        modelDim = intParam(uid, "modelDim", "width d of the rows the MoE layer sees (features are projected to it); >= 1", 1);
        gating = stringParam(uid, "gating", "gating network: " + String.join(" | ", GATINGS), GATINGS);
        numGroups = intParam(uid, "numGroups", "groups a of hierarchical gating; >= 1", 1);
        expertsPerGroup = intParam(uid, "expertsPerGroup", "experts b in each group of hierarchical gating; >= 1", 1);
        kPrimary = intParam(uid, "kPrimary", "groups per example of hierarchical gating; in [1, numGroups]", 1);
        kSecondary = intParam(uid, "kSecondary", "experts per example within a group of hierarchical gating; in [1, expertsPerGroup]", 1);
        wImportance = new DoubleParam(uid, "wImportance", "weight of the importance (balance) loss; >= 0", ParamValidators.gtEq(0));
        wLoad = new DoubleParam(uid, "wLoad", "weight of the load (balance) loss; >= 0", ParamValidators.gtEq(0));
        routing = stringParam(uid, "routing", "how examples reach their experts: " + String.join(" | ", ROUTINGS), ROUTINGS);
        placement = stringParam(uid, "placement", "where expert parameters live while training: " + String.join(" | ", PLACEMENTS), PLACEMENTS);
        expertShards = intParam(uid, "expertShards", "expert shards (partitions of experts); in [1, number of experts]", 1);
        batchSize = intParam(uid, "batchSize", "global mini-batch size B (examples per step over all partitions); >= 1", 1);
        maxSteps = intParam(uid, "maxSteps", "training steps; >= 0", 0);
        stepSize = new DoubleParam(uid, "stepSize", "peak learning rate of Adam; > 0",
                ParamValidators.gt(0));
        warmupSteps = intParam(uid, "warmupSteps", "learning-rate warm-up steps (then 1/sqrt decay); 0 = constant rate", 0);
        clipNorm = new DoubleParam(uid, "clipNorm", "global gradient-norm clipping threshold; 0 = off, >= 0", ParamValidators.gtEq(0));
        seed = new LongParam(uid, "seed", "random seed (initialisation, batch order, gating noise)");
        checkpointInterval = intParam(uid, "checkpointInterval", "steps between training checkpoints (with checkpointDir); >= 1", 1);
        checkpointDir = new Param<>(uid, "checkpointDir", "Hadoop directory for training checkpoints (fit resumes from its latest); empty = none");
        featuresCol = nonEmpty(uid, "featuresCol", "features column name (Vector)");
        labelCol = nonEmpty(uid, "labelCol", "label column name (numeric)");
        predictionCol = new Param<>(uid, "predictionCol", "prediction column name; empty = not produced");
        probabilityCol = new Param<>(uid, "probabilityCol", "class probability column name (Vector); empty = not produced");
        rawPredictionCol = new Param<>(uid, "rawPredictionCol", "raw prediction column name (Vector of log-probabilities); empty = not produced");
        expertsCol = new Param<>(uid, "expertsCol",
                "column with each row's chosen experts and their gate values (array<struct<expert:int,gate:double>>); empty = not produced");
        initialModelPath = new Param<>(uid, "initialModelPath",
                "path of a saved model of the same shape to start training from (warm start); empty = fresh initialisation");
    }

    private static IntParam intParam(String uid, String name, String doc, int min) {
        return new IntParam(uid, name, doc, ParamValidators.gtEq(min));
    }

    private static Param<String> stringParam(String uid, String name, String doc, String[] allowed) {
        Function1<String, Object> ok = (Function1<String, Object> & java.io.Serializable) v -> v != null && Arrays.asList(allowed).contains(v);
        return new Param<>(uid, name, doc, ok);
    }

    /** A string param's validator: set and not empty (serializable, as params are serialized with their stages). */
    static final Function1<String, Object> NOT_EMPTY = (Function1<String, Object> & java.io.Serializable) v -> v != null && !v.isEmpty();

    /** A string param whose value must not be empty ({@link #NOT_EMPTY}). */
    static Param<String> nonEmpty(String uid, String name, String doc) {
        return new Param<>(uid, name, doc + "; must not be empty", NOT_EMPTY);
    }

    /** Sets the defaults on {@code owner} (which must already return these params). */
    void applyDefaults(Params owner, boolean classifier) {
        owner.setDefault(numExperts, 8);
        owner.setDefault(k, 2);
        owner.setDefault(expertHiddenSize, 32);
        owner.setDefault(modelDim, 32);
        owner.setDefault(gating, "noisyTopK");
        owner.setDefault(numGroups, 2);
        owner.setDefault(expertsPerGroup, 4);
        owner.setDefault(kPrimary, 1);
        owner.setDefault(kSecondary, 2);
        owner.setDefault(wImportance, 0.1);
        owner.setDefault(wLoad, 0.1);
        owner.setDefault(routing, "shuffle");
        owner.setDefault(placement, "driver");
        owner.setDefault(expertShards, 1);
        owner.setDefault(batchSize, 256);
        owner.setDefault(maxSteps, 200);
        owner.setDefault(stepSize, 0.01);
        owner.setDefault(warmupSteps, 0);
        owner.setDefault(clipNorm, 1.0);
        owner.setDefault(seed, 42L);
        owner.setDefault(checkpointInterval, 100);
        owner.setDefault(checkpointDir, "");
        owner.setDefault(featuresCol, "features");
        owner.setDefault(labelCol, "label");
        owner.setDefault(predictionCol, "prediction");
        if (classifier) {
            owner.setDefault(probabilityCol, "probability");
            owner.setDefault(rawPredictionCol, "rawPrediction");
        }
        owner.setDefault(expertsCol, "");
        owner.setDefault(initialModelPath, "");
    }
}
