"""pyspark.ml.classification stand-in: the Java classifier bases (their hierarchy as in pyspark 3.5 / 4.x)."""

from abc import ABCMeta
from typing import Generic, TypeVar

from pyspark.ml import PredictionModel, Predictor, _PredictorParams
from pyspark.ml.param.shared import HasProbabilityCol, HasRawPredictionCol, HasThresholds
from pyspark.ml.wrapper import JavaPredictionModel, JavaPredictor

JPM = TypeVar("JPM")
T = TypeVar("T")
CM = TypeVar("CM")


class _ClassifierParams(HasRawPredictionCol, _PredictorParams):
    pass


class Classifier(Predictor[CM], _ClassifierParams, Generic[CM], metaclass=ABCMeta):
    def setRawPredictionCol(self, value):
        return self._set(rawPredictionCol=value)


class ClassificationModel(PredictionModel, _ClassifierParams, metaclass=ABCMeta):
    def setRawPredictionCol(self, value):
        return self._set(rawPredictionCol=value)


class _ProbabilisticClassifierParams(HasProbabilityCol, HasThresholds, _ClassifierParams):
    pass


class ProbabilisticClassifier(Classifier, _ProbabilisticClassifierParams, metaclass=ABCMeta):
    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def setThresholds(self, value):
        return self._set(thresholds=value)


class ProbabilisticClassificationModel(ClassificationModel, _ProbabilisticClassifierParams, metaclass=ABCMeta):
    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def setThresholds(self, value):
        return self._set(thresholds=value)


class _JavaClassifier(Classifier, JavaPredictor[JPM], Generic[JPM], metaclass=ABCMeta):
    def setRawPredictionCol(self, value):
        return self._set(rawPredictionCol=value)


class _JavaClassificationModel(ClassificationModel, JavaPredictionModel[T]):
    @property
    def numClasses(self):
        return self._call_java("numClasses")

    def predictRaw(self, value):
        return self._call_java("predictRaw", value)


class _JavaProbabilisticClassifier(ProbabilisticClassifier, _JavaClassifier[JPM], Generic[JPM], metaclass=ABCMeta):
    pass


class _JavaProbabilisticClassificationModel(ProbabilisticClassificationModel, _JavaClassificationModel[T]):
    def predictProbability(self, value):
        return self._call_java("predictProbability", value)
