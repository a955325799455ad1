"""pyspark.ml.regression stand-in: the Java regressor bases."""

from abc import ABCMeta
from typing import Generic, TypeVar

from pyspark.ml import PredictionModel, Predictor, _PredictorParams
from pyspark.ml.wrapper import JavaPredictionModel, JavaPredictor

M = TypeVar("M")
JM = TypeVar("JM")
T = TypeVar("T")


class Regressor(Predictor[M], _PredictorParams, Generic[M], metaclass=ABCMeta):
    pass


class RegressionModel(PredictionModel[T], _PredictorParams, metaclass=ABCMeta):
    pass


class _JavaRegressor(Regressor, JavaPredictor[JM], Generic[JM], metaclass=ABCMeta):
    pass


class _JavaRegressionModel(RegressionModel, JavaPredictionModel[T], metaclass=ABCMeta):
    pass
