package org.sparkmoe.ml;

import org.apache.spark.ml.param.Param;

/** The classifier's extra output columns (class probabilities and log-probabilities). */
public interface MoEClassifierParams<T extends MoEClassifierParams<T>> extends MoESupervisedParams<T> {

    default Param<String> probabilityCol() {
        return moeParams().probabilityCol;
    }

    default String getProbabilityCol() {
        return (String) getOrDefault(probabilityCol());
    }

    @SuppressWarnings("unchecked")
    default T setProbabilityCol(String value) {
        set(probabilityCol(), value);
        return (T) this;
    }

    default Param<String> rawPredictionCol() {
        return moeParams().rawPredictionCol;
    }

    default String getRawPredictionCol() {
        return (String) getOrDefault(rawPredictionCol());
    }

    @SuppressWarnings("unchecked")
    default T setRawPredictionCol(String value) {
        set(rawPredictionCol(), value);
        return (T) this;
    }
}
