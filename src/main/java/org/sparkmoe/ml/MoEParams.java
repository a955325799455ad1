package org.sparkmoe.ml;

import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;

/**
 * The params shared by the MoE estimators and their models, as public methods (Spark's
 * {@code Params.params} finds params by reflection over public no-argument methods), with typed
 * getters and fluent setters. {@code T} is the implementing class. See {@link MoEParamSet} for the
 * docs, validators and defaults.
 *
 * <p>Gating: {@code softmax} (all {@code numExperts} experts, dense), {@code noisyTopK} ({@code k}
 * of {@code numExperts}) or {@code hierarchical} ({@code numGroups} x {@code expertsPerGroup}
 * experts, {@code kPrimary} groups then {@code kSecondary} experts per group; numExperts and k
 * are then ignored).
 */
public interface MoEParams<T extends MoEParams<T>> extends Params {

    /** The param objects of this instance. */
    MoEParamSet moeParams();

    default IntParam numExperts() {
        return moeParams().numExperts;
    }

    default int getNumExperts() {
        return (Integer) getOrDefault(numExperts());
    }

    @SuppressWarnings("unchecked")
    default T setNumExperts(int value) {
        set(numExperts(), value);
        return (T) this;
    }

    default IntParam k() {
        return moeParams().k;
    }

    default int getK() {
        return (Integer) getOrDefault(k());
    }

    @SuppressWarnings("unchecked")
    default T setK(int value) {
        set(k(), value);
        return (T) this;
    }

    default IntParam expertHiddenSize() {
        return moeParams().expertHiddenSize;
    }

    default int getExpertHiddenSize() {
        return (Integer) getOrDefault(expertHiddenSize());
    }

    @SuppressWarnings("unchecked")
    default T setExpertHiddenSize(int value) {
        set(expertHiddenSize(), value);
        return (T) this;
    }

    default IntParam modelDim() {
        return moeParams().modelDim;
    }

    default int getModelDim() {
        return (Integer) getOrDefault(modelDim());
    }

    @SuppressWarnings("unchecked")
    default T setModelDim(int value) {
        set(modelDim(), value);
        return (T) this;
    }

    default IntParam numGroups() {
        return moeParams().numGroups;
    }

    default int getNumGroups() {
        return (Integer) getOrDefault(numGroups());
    }

    @SuppressWarnings("unchecked")
    default T setNumGroups(int value) {
        set(numGroups(), value);
        return (T) this;
    }

    default IntParam expertsPerGroup() {
        return moeParams().expertsPerGroup;
    }

    default int getExpertsPerGroup() {
        return (Integer) getOrDefault(expertsPerGroup());
    }

    @SuppressWarnings("unchecked")
    default T setExpertsPerGroup(int value) {
        set(expertsPerGroup(), value);
        return (T) this;
    }

    default IntParam kPrimary() {
        return moeParams().kPrimary;
    }

    default int getKPrimary() {
        return (Integer) getOrDefault(kPrimary());
    }

    @SuppressWarnings("unchecked")
    default T setKPrimary(int value) {
        set(kPrimary(), value);
        return (T) this;
    }

    default IntParam kSecondary() {
        return moeParams().kSecondary;
    }

    default int getKSecondary() {
        return (Integer) getOrDefault(kSecondary());
    }

    @SuppressWarnings("unchecked")
    default T setKSecondary(int value) {
        set(kSecondary(), value);
        return (T) this;
    }

    /** How float32 rows cross the step's shuffles: "f32" or "bf16" (half the bytes; see {@code Settings.SHUFFLE_PAYLOAD}). */
    default Param<String> shufflePayload() {
        return moeParams().shufflePayload;
    }

    default String getShufflePayload() {
        return (String) getOrDefault(shufflePayload());
    }

    @SuppressWarnings("unchecked")
    default T setShufflePayload(String value) {
        set(shufflePayload(), value);
        return (T) this;
    }

    default IntParam expertShards() {
        return moeParams().expertShards;
    }

    default int getExpertShards() {
        return (Integer) getOrDefault(expertShards());
    }

    @SuppressWarnings("unchecked")
    default T setExpertShards(int value) {
        set(expertShards(), value);
        return (T) this;
    }

    default IntParam batchSize() {
        return moeParams().batchSize;
    }

    default int getBatchSize() {
        return (Integer) getOrDefault(batchSize());
    }

    @SuppressWarnings("unchecked")
    default T setBatchSize(int value) {
        set(batchSize(), value);
        return (T) this;
    }

    default IntParam maxSteps() {
        return moeParams().maxSteps;
    }

    default int getMaxSteps() {
        return (Integer) getOrDefault(maxSteps());
    }

    @SuppressWarnings("unchecked")
    default T setMaxSteps(int value) {
        set(maxSteps(), value);
        return (T) this;
    }

    default IntParam warmupSteps() {
        return moeParams().warmupSteps;
    }

    default int getWarmupSteps() {
        return (Integer) getOrDefault(warmupSteps());
    }

    @SuppressWarnings("unchecked")
    default T setWarmupSteps(int value) {
        set(warmupSteps(), value);
        return (T) this;
    }

    default IntParam checkpointInterval() {
        return moeParams().checkpointInterval;
    }

    default int getCheckpointInterval() {
        return (Integer) getOrDefault(checkpointInterval());
    }

    @SuppressWarnings("unchecked")
    default T setCheckpointInterval(int value) {
        set(checkpointInterval(), value);
        return (T) this;
    }

    default DoubleParam wImportance() {
        return moeParams().wImportance;
    }

    default double getWImportance() {
        return (Double) getOrDefault(wImportance());
    }

    @SuppressWarnings("unchecked")
    default T setWImportance(double value) {
        set(wImportance(), value);
        return (T) this;
    }

    default DoubleParam wLoad() {
        return moeParams().wLoad;
    }

    default double getWLoad() {
        return (Double) getOrDefault(wLoad());
    }

    @SuppressWarnings("unchecked")
    default T setWLoad(double value) {
        set(wLoad(), value);
        return (T) this;
    }

    default DoubleParam stepSize() {
        return moeParams().stepSize;
    }

    default double getStepSize() {
        return (Double) getOrDefault(stepSize());
    }

    @SuppressWarnings("unchecked")
    default T setStepSize(double value) {
        set(stepSize(), value);
        return (T) this;
    }

    default DoubleParam clipNorm() {
        return moeParams().clipNorm;
    }

    default double getClipNorm() {
        return (Double) getOrDefault(clipNorm());
    }

    @SuppressWarnings("unchecked")
    default T setClipNorm(double value) {
        set(clipNorm(), value);
        return (T) this;
    }

    default LongParam seed() {
        return moeParams().seed;
    }

    default long getSeed() {
        return (Long) getOrDefault(seed());
    }

    @SuppressWarnings("unchecked")
    default T setSeed(long value) {
        set(seed(), value);
        return (T) this;
    }

    default Param<String> gating() {
        return moeParams().gating;
    }

    default String getGating() {
        return (String) getOrDefault(gating());
    }

    @SuppressWarnings("unchecked")
    default T setGating(String value) {
        set(gating(), value);
        return (T) this;
    }

    default Param<String> routing() {
        return moeParams().routing;
    }

    default String getRouting() {
        return (String) getOrDefault(routing());
    }

    @SuppressWarnings("unchecked")
    default T setRouting(String value) {
        set(routing(), value);
        return (T) this;
    }

    default Param<String> placement() {
        return moeParams().placement;
    }

    default String getPlacement() {
        return (String) getOrDefault(placement());
    }

    @SuppressWarnings("unchecked")
    default T setPlacement(String value) {
        set(placement(), value);
        return (T) this;
    }

    default Param<String> checkpointDir() {
        return moeParams().checkpointDir;
    }

    default String getCheckpointDir() {
        return (String) getOrDefault(checkpointDir());
    }

    @SuppressWarnings("unchecked")
    default T setCheckpointDir(String value) {
        set(checkpointDir(), value);
        return (T) this;
    }

    default Param<String> featuresCol() {
        return moeParams().featuresCol;
    }

    default String getFeaturesCol() {
        return (String) getOrDefault(featuresCol());
    }

    @SuppressWarnings("unchecked")
    default T setFeaturesCol(String value) {
        set(featuresCol(), value);
        return (T) this;
    }

    default Param<String> labelCol() {
        return moeParams().labelCol;
    }

    default String getLabelCol() {
        return (String) getOrDefault(labelCol());
    }

    @SuppressWarnings("unchecked")
    default T setLabelCol(String value) {
        set(labelCol(), value);
        return (T) this;
    }

    default Param<String> predictionCol() {
        return moeParams().predictionCol;
    }

    default String getPredictionCol() {
        return (String) getOrDefault(predictionCol());
    }

    @SuppressWarnings("unchecked")
    default T setPredictionCol(String value) {
        set(predictionCol(), value);
        return (T) this;
    }

    default Param<String> expertsCol() {
        return moeParams().expertsCol;
    }

    default String getExpertsCol() {
        return (String) getOrDefault(expertsCol());
    }

    @SuppressWarnings("unchecked")
    default T setExpertsCol(String value) {
        set(expertsCol(), value);
        return (T) this;
    }

    default Param<String> initialModelPath() {
        return moeParams().initialModelPath;
    }

    default String getInitialModelPath() {
        return (String) getOrDefault(initialModelPath());
    }

    @SuppressWarnings("unchecked")
    default T setInitialModelPath(String value) {
        set(initialModelPath(), value);
        return (T) this;
    }

    default Param<String> validationIndicatorCol() {
        return moeParams().validationIndicatorCol;
    }

    default String getValidationIndicatorCol() {
        return (String) getOrDefault(validationIndicatorCol());
    }

    @SuppressWarnings("unchecked")
    default T setValidationIndicatorCol(String value) {
        set(validationIndicatorCol(), value);
        return (T) this;
    }
}
