package org.sparkmoe.ml;

import java.io.Serializable;

import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;

import org.sparkmoe.app.Setting;
import org.sparkmoe.app.Settings;

import scala.Function1;

/**
 * The {@link org.apache.spark.ml.param.Param} objects of one estimator or model instance (Spark finds
 * them through the public no-argument methods of {@link MoEParams}, which return these fields). Created
 * with the owner's uid, before anything asks the owner for its params; {@link #applyDefaults} then sets
 * the defaults on the owner.
 */
public final class MoEParamSet implements Serializable {
    private static final long serialVersionUID = 1L;


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
    final Param<String> shufflePayload;
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
    final Param<String> validationIndicatorCol;
    final Param<String> weightCol;

    MoEParamSet(String uid) {
        numExperts = intParam(uid, Settings.NUM_EXPERTS);
        k = intParam(uid, Settings.K);
        expertHiddenSize = intParam(uid, Settings.EXPERT_HIDDEN_SIZE);
        modelDim = intParam(uid, Settings.MODEL_DIM);
        gating = stringParam(uid, Settings.GATING);
        numGroups = intParam(uid, Settings.NUM_GROUPS);
        expertsPerGroup = intParam(uid, Settings.EXPERTS_PER_GROUP);
        kPrimary = intParam(uid, Settings.K_PRIMARY);
        kSecondary = intParam(uid, Settings.K_SECONDARY);
        wImportance = doubleParam(uid, Settings.W_IMPORTANCE);
        wLoad = doubleParam(uid, Settings.W_LOAD);
        routing = stringParam(uid, Settings.ROUTING);
        placement = stringParam(uid, Settings.PLACEMENT);
        expertShards = intParam(uid, Settings.EXPERT_SHARDS);
        shufflePayload = stringParam(uid, Settings.SHUFFLE_PAYLOAD);
        batchSize = intParam(uid, Settings.BATCH_SIZE);
        maxSteps = intParam(uid, Settings.MAX_STEPS);
        stepSize = doubleParam(uid, Settings.STEP_SIZE);
        warmupSteps = intParam(uid, Settings.WARMUP_STEPS);
        clipNorm = doubleParam(uid, Settings.CLIP_NORM);
        seed = new LongParam(uid, Settings.SEED.name(), Settings.SEED.doc(Setting.Face.ML), valid(Settings.SEED));
        checkpointInterval = intParam(uid, Settings.CHECKPOINT_INTERVAL);
        checkpointDir = stringParam(uid, Settings.CHECKPOINT_DIR);
        featuresCol = stringParam(uid, Settings.FEATURES_COL);
        labelCol = stringParam(uid, Settings.LABEL_COL);
        predictionCol = stringParam(uid, Settings.PREDICTION_COL);
        probabilityCol = stringParam(uid, Settings.PROBABILITY_COL);
        rawPredictionCol = stringParam(uid, Settings.RAW_PREDICTION_COL);
        expertsCol = stringParam(uid, Settings.EXPERTS_COL);
        initialModelPath = stringParam(uid, Settings.INITIAL_MODEL_PATH);
        validationIndicatorCol = stringParam(uid, Settings.VALIDATION_INDICATOR_COL);
        weightCol = stringParam(uid, Settings.WEIGHT_COL);
    }

    /** A param's validator: the setting's rule (serializable, as params are serialized with their stages). */
    static Function1<Object, Object> valid(Setting s) {
        return (Function1<Object, Object> & java.io.Serializable) v -> v != null && s.accepts(String.valueOf(v));
    }

    static IntParam intParam(String uid, Setting s) {
        return new IntParam(uid, s.name(), s.doc(Setting.Face.ML), valid(s));
    }

    static DoubleParam doubleParam(String uid, Setting s) {
        return new DoubleParam(uid, s.name(), s.doc(Setting.Face.ML), valid(s));
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static Param<String> stringParam(String uid, Setting s) {
        Function1 ok = valid(s);
        return new Param<>(uid, s.name(), s.doc(Setting.Face.ML), ok);
    }

    /**
     * Sets the declared defaults ({@link Settings}) on {@code owner} (which must already return these
     * params): the classifier's columns when {@code classifier}, and weightCol for any
     * {@link MoESupervisedParams} owner.
     */
    void applyDefaults(Params owner, boolean classifier) {
        for (Param<?> p : new Param<?>[] {numExperts, k, expertHiddenSize, modelDim, gating, numGroups, expertsPerGroup, kPrimary,
                kSecondary, wImportance, wLoad, routing, placement, expertShards, shufflePayload, batchSize, maxSteps, stepSize, warmupSteps, clipNorm,
                seed, checkpointInterval, checkpointDir, featuresCol, labelCol, predictionCol, expertsCol, initialModelPath, validationIndicatorCol}) {
            setDefault(owner, p);
        }
        if (owner instanceof MoESupervisedParams<?>) setDefault(owner, weightCol);
        if (classifier) {
            setDefault(owner, probabilityCol);
            setDefault(owner, rawPredictionCol);
        }
    }

    @SuppressWarnings("unchecked")
    static void setDefault(Params owner, Param<?> p) {
        owner.setDefault((Param<Object>) p, Settings.byName(p.name()).defaultObject());
    }
}
