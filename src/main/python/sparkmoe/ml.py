"""PySpark wrappers of the spark-moe Spark ML estimators, models and evaluator (package org.sparkmoe.ml).

Each class is a thin pyspark.ml wrapper around the JVM class of the same name: the work (training,
scoring, persistence) happens in the JVM, so the application jar (target/spark-moe_2.13-*-app.jar) must be on
the driver's class path (``--jars``, ``spark.jars`` or ``--driver-class-path``). They follow the
pyspark.ml conventions: keyword-only constructors and ``setParams``, one pyspark ``Param`` per Java param
with the same name, ``getX``/``setX`` accessors, ``save``/``load``, and they work inside ``Pipeline``,
``CrossValidator`` and ``TrainValidationSplit`` (also when those are saved and loaded).

Loading: pyspark maps a saved Java stage to its Python class by replacing ``org.apache.spark`` with
``pyspark`` in the Java class name, which does not work for third-party classes. Importing this module
therefore registers itself under the module name ``org.sparkmoe.ml`` (in ``sys.modules`` only), so that
``PipelineModel.load`` and the tuning models' ``load`` find these wrappers: import ``sparkmoe`` before
loading. Spark Connect is not supported (these wrap JVM objects through py4j).
"""

import sys
from typing import Any, Dict, List, Sequence, Tuple

from pyspark.ml.evaluation import JavaEvaluator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import JavaMLReadable, JavaMLReader, JavaMLWritable
from pyspark.ml.wrapper import JavaEstimator, JavaModel, JavaParams

from sparkmoe._params import PARAMS

__all__ = [
    "MoEClassifier",
    "MoEClassificationModel",
    "MoERegressor",
    "MoERegressionModel",
    "MoELanguageModelEstimator",
    "MoELanguageModel",
    "MoEPerplexityEvaluator",
]

JAVA_PACKAGE = "org.sparkmoe.ml"

_int, _float, _str = TypeConverters.toInt, TypeConverters.toFloat, TypeConverters.toString
ParamSpec = Tuple[str, Any, str]

_CONVERTERS = {"int": _int, "float": _float, "str": _str, "bool": TypeConverters.toBoolean}


def _specs(*names: str) -> Tuple[ParamSpec, ...]:
    """Name, type converter and doc of the named Java params, from the declaration (sparkmoe._params)."""
    return tuple((n, _CONVERTERS[PARAMS[n][0]], PARAMS[n][1]) for n in names)


# The Java params (MoEParamSet / MoEParams.java); names, docs and defaults come from the one declaration
# of the settings (org.sparkmoe.app.Settings), generated into sparkmoe/_params.py.
MOE_PARAMS: Tuple[ParamSpec, ...] = _specs(
    "numExperts", "k", "expertHiddenSize", "modelDim", "gating", "numGroups", "expertsPerGroup", "kPrimary", "kSecondary",
    "wImportance", "wLoad", "routing", "placement", "expertShards", "batchSize", "maxSteps", "stepSize", "warmupSteps",
    "clipNorm", "seed", "checkpointInterval", "checkpointDir", "featuresCol", "labelCol", "predictionCol", "expertsCol",
    "initialModelPath")
# MoEClassifierParams.java
CLASSIFIER_PARAMS: Tuple[ParamSpec, ...] = _specs("probabilityCol", "rawPredictionCol")
# MoELanguageModelParams.java
LM_PARAMS: Tuple[ParamSpec, ...] = _specs(
    "textCol", "vocabularySize", "context", "embeddingDim", "logLikelihoodCol", "perplexityCol", "numTargetsCol")
# MoEPerplexityEvaluator.java
EVALUATOR_PARAMS: Tuple[ParamSpec, ...] = (
    ("logLikelihoodCol", _str, "column with each document's summed ln p of its targets"),
    ("numTargetsCol", _str, "column with each document's number of predicted targets"),
)


def _declare(cls: type, specs: Sequence[ParamSpec]) -> None:
    """Adds a class-level Param, getX and setX for every spec (pyspark finds Params on the class)."""
    for name, converter, doc in specs:
        setattr(cls, name, Param(Params._dummy(), name, doc, typeConverter=converter))
        cap = name[0].upper() + name[1:]

        def getter(self: Params, _name: str = name) -> Any:
            return self.getOrDefault(_name)

        def setter(self: Params, value: Any, _name: str = name) -> Any:
            return self._set(**{_name: value})

        getter.__name__, getter.__doc__ = "get" + cap, "Gets the value of %s or its default. %s" % (name, doc)
        setter.__name__, setter.__doc__ = "set" + cap, "Sets the value of %s: %s" % (name, doc)
        setattr(cls, getter.__name__, getter)
        setattr(cls, setter.__name__, setter)


class _MoEReader(JavaMLReader):
    """Reads with the JVM class org.sparkmoe.ml.<Python class name>."""

    @classmethod
    def _java_loader_class(cls, clazz: type) -> str:
        return JAVA_PACKAGE + "." + clazz.__name__


class _MoEJavaParams(JavaParams, JavaMLReadable, JavaMLWritable):
    """Shared by all wrappers: declared params, JVM class lookup, Java defaults, setParams."""

    _param_specs: Tuple[ParamSpec, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_param_specs" in cls.__dict__:
            _declare(cls, cls._param_specs)

    @classmethod
    def read(cls) -> JavaMLReader:
        """Returns an MLReader for this class (loads with the JVM class of the same name)."""
        return _MoEReader(cls)

    def _create_java(self, kwargs: Dict[str, Any]) -> None:
        """Creates the JVM object (same uid), takes its defaults as the Python defaults, applies kwargs."""
        self._java_obj = self._new_java_obj(JAVA_PACKAGE + "." + type(self).__name__, self.uid)
        for p in self.params:
            if self._java_obj.hasParam(p.name):
                jp = self._java_obj.getParam(p.name)
                if self._java_obj.hasDefault(jp):
                    self._setDefault(**{p.name: self._java_obj.getDefault(jp).get()})
        self.setParams(**kwargs)

    def setParams(self, **kwargs: Any) -> Any:
        """Sets params by name (keyword arguments only); None leaves a param as it is."""
        unknown = sorted(k for k in kwargs if not self.hasParam(k))
        if unknown:
            raise TypeError("%s has no param(s) %s" % (type(self).__name__, ", ".join(unknown)))
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})


class _MoEEstimator(_MoEJavaParams, JavaEstimator):
    _model_class: type

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self._create_java(kwargs)

    def _create_model(self, java_model: Any) -> Any:
        return self._model_class(java_model)


class _MoEModel(_MoEJavaParams, JavaModel):
    """Fitted models: experts on the driver or distributed on the executors (placement="sharded"
    at fit time, or toDistributed)."""

    def __init__(self, java_model: Any = None) -> None:
        super().__init__(java_model)

    @property
    def isDistributed(self) -> bool:
        """True when the experts are held on the executors (a distributed expert table)."""
        return self._java_obj.isDistributed()

    def _wrap(self, java_model: Any) -> Any:
        model = type(self)(java_model)
        model._transfer_params_from_java()
        return model

    def toLocal(self) -> Any:
        """This model with its experts gathered on the driver."""
        self._transfer_params_to_java()
        return self._wrap(self._java_obj.toLocal())

    def toDistributed(self, shards: int) -> Any:
        """This model with its experts spread over `shards` shards on the executors."""
        self._transfer_params_to_java()
        return self._wrap(self._java_obj.toDistributed(shards))

    def unpersist(self) -> None:
        """Releases a distributed model's cached experts."""
        self._java_obj.unpersist()


class _MoEFeatureModel(_MoEModel):
    """Classification and regression models."""

    @property
    def numFeatures(self) -> int:
        return self._call_java("numFeatures")


class MoEClassificationModel(_MoEFeatureModel):
    """Fitted MoEClassifier: adds predictionCol, probabilityCol, rawPredictionCol (and expertsCol)."""

    _param_specs = MOE_PARAMS + CLASSIFIER_PARAMS

    @property
    def numClasses(self) -> int:
        return self._call_java("numClasses")


class MoEClassifier(_MoEEstimator):
    """Sparsely-gated mixture-of-experts classifier (JVM class org.sparkmoe.ml.MoEClassifier).

    >>> moe = MoEClassifier(numExperts=8, k=2, maxSteps=200, featuresCol="features", labelCol="label")
    """

    _param_specs = MOE_PARAMS + CLASSIFIER_PARAMS
    _model_class = MoEClassificationModel


class MoERegressionModel(_MoEFeatureModel):
    """Fitted MoERegressor: adds predictionCol (and expertsCol)."""

    _param_specs = MOE_PARAMS


class MoERegressor(_MoEEstimator):
    """Sparsely-gated mixture-of-experts regressor (JVM class org.sparkmoe.ml.MoERegressor)."""

    _param_specs = MOE_PARAMS
    _model_class = MoERegressionModel


class MoELanguageModel(_MoEModel):
    """Fitted MoELanguageModelEstimator: per-document logLikelihood, numTargets, perplexity (and the
    next word in predictionCol when set)."""

    _param_specs = MOE_PARAMS + LM_PARAMS

    def perplexity(self, dataset: Any) -> float:
        """Perplexity of the documents of textCol taken as one corpus."""
        self._transfer_params_to_java()
        return self._java_obj.perplexity(dataset._jdf)

    @property
    def vocabulary(self) -> List[str]:
        """The model's words by id (<unk> and <eos> first)."""
        return list(self._java_obj.vocabulary().words())


class MoELanguageModelEstimator(_MoEEstimator):
    """Mixture-of-experts language model over a string column of documents
    (JVM class org.sparkmoe.ml.MoELanguageModelEstimator); fits a MoELanguageModel."""

    _param_specs = MOE_PARAMS + LM_PARAMS
    _model_class = MoELanguageModel


class MoEPerplexityEvaluator(_MoEJavaParams, JavaEvaluator):
    """Corpus perplexity exp(-sum logLikelihood / sum numTargets) of MoELanguageModel outputs;
    smaller is better (for CrossValidator / TrainValidationSplit)."""

    _param_specs = EVALUATOR_PARAMS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self._create_java(kwargs)


# pyspark loads a saved stage through the Python module named like its Java package (see the module doc).
# Assigned, not setdefault: with the app jar on sys.path, org/sparkmoe/ml/ there would otherwise be
# importable as an empty namespace package (found by a load that ran before this import).
sys.modules[JAVA_PACKAGE] = sys.modules[__name__]
