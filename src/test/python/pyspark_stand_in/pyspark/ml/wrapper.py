"""pyspark.ml.wrapper stand-in, with a fake JVM: FAKE_JVM.new(class name, uid) makes the JVM objects."""

from abc import ABCMeta
from typing import Generic, TypeVar

from pyspark.ml import Estimator, Model, PredictionModel, Predictor, Transformer
from pyspark.ml.param import Params

JM = TypeVar("JM")
T = TypeVar("T")


class _FakeJvm:
    """Set `new` to a function (class name, uid) -> fake Java object."""

    new = None


FAKE_JVM = _FakeJvm()


class JavaWrapper:
    def __init__(self, java_obj=None):
        super().__init__()
        self._java_obj = java_obj

    @staticmethod
    def _new_java_obj(java_class, *args):
        return FAKE_JVM.new(java_class, *args)

    def _call_java(self, name, *args):
        return getattr(self._java_obj, name)(*args)


class JavaParams(JavaWrapper, Params, metaclass=ABCMeta):
    def _transfer_params_to_java(self):
        for param in self.params:
            if self._java_obj.hasParam(param.name):
                if self.isSet(param):
                    self._java_obj.set(param.name, self._paramMap[param])
                if self.hasDefault(param):
                    self._java_obj.setDefault(param.name, self._defaultParamMap[param])

    def _transfer_params_from_java(self):
        for param in self.params:
            if self._java_obj.hasParam(param.name):
                if self._java_obj.isSet(param.name):
                    self._set(**{param.name: self._java_obj.getOrDefault(param.name)})
                if self._java_obj.hasDefault(param.name) and not self.isDefined(param):
                    self._setDefault(**{param.name: self._java_obj.getDefault(param.name)})

    def _create_params_from_java(self):
        pass


class JavaEstimator(JavaParams, Estimator[JM], metaclass=ABCMeta):
    def _create_model(self, java_model):
        raise NotImplementedError()

    def _fit_java(self, dataset):
        self._transfer_params_to_java()
        return self._java_obj.fit(dataset)

    def _fit(self, dataset):
        java_model = self._fit_java(dataset)
        model = self._create_model(java_model)
        return self._copyValues(model)


class JavaTransformer(JavaParams, Transformer, metaclass=ABCMeta):
    pass


class JavaModel(JavaTransformer, Model, metaclass=ABCMeta):
    def __init__(self, java_model=None):
        super().__init__(java_model)
        if java_model is not None:
            self._create_params_from_java()
            self._resetUid(java_model.uid())


class JavaPredictor(Predictor[JM], JavaEstimator[JM], Generic[JM], metaclass=ABCMeta):
    pass


class JavaPredictionModel(PredictionModel[T], JavaModel, Generic[T]):
    @property
    def numFeatures(self):
        return self._call_java("numFeatures")

    def predict(self, value):
        return self._call_java("predict", value)
