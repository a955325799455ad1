"""pyspark.ml stand-in: the abstract stages (pyspark/ml/base.py)."""

from abc import ABCMeta
from typing import Generic, TypeVar

from pyspark.ml.param import Params
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol

M = TypeVar("M")
T = TypeVar("T")


class Estimator(Params, Generic[M], metaclass=ABCMeta):
    def fit(self, dataset, params=None):
        return self._fit(dataset)


class Transformer(Params, metaclass=ABCMeta):
    pass


class Model(Transformer, metaclass=ABCMeta):
    pass


class _PredictorParams(HasLabelCol, HasFeaturesCol, HasPredictionCol):
    pass


class Predictor(Estimator[M], _PredictorParams, metaclass=ABCMeta):
    def setLabelCol(self, value):
        return self._set(labelCol=value)

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)


class PredictionModel(Model, _PredictorParams, Generic[T], metaclass=ABCMeta):
    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)
