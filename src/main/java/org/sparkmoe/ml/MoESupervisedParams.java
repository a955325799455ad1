package org.sparkmoe.ml;

import org.apache.spark.ml.param.Param;

/**
 * The params of the feature estimators and their models (classifier and regressor, not the language
 * model): {@code weightCol}, as MLlib's {@code HasWeightCol}.
 */
public interface MoESupervisedParams<T extends MoESupervisedParams<T>> extends MoEParams<T> {

    /** Column of example weights (finite, {@code >= 0}); empty = every row weighs 1. */
    default Param<String> weightCol() {
        return moeParams().weightCol;
    }

    default String getWeightCol() {
        return (String) getOrDefault(weightCol());
    }

    @SuppressWarnings("unchecked")
    default T setWeightCol(String value) {
        set(weightCol(), value);
        return (T) this;
    }
}
