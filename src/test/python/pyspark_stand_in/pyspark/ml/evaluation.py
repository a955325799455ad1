"""pyspark.ml.evaluation stand-in."""

from abc import ABCMeta

from pyspark.ml.param import Params
from pyspark.ml.wrapper import JavaParams


class Evaluator(Params, metaclass=ABCMeta):
    def evaluate(self, dataset, params=None):
        return self._evaluate(dataset)


class JavaEvaluator(JavaParams, Evaluator, metaclass=ABCMeta):
    def _evaluate(self, dataset):
        self._transfer_params_to_java()
        return self._java_obj.evaluate(dataset)

    def isLargerBetter(self):
        self._transfer_params_to_java()
        return self._java_obj.isLargerBetter()
