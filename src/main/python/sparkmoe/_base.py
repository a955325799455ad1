"""What the generated wrappers (sparkmoe.ml) add by hand: loading with the JVM class of the same name,
and the fitted models' methods that are not params (distributed experts, the language model's
perplexity and vocabulary). The params, constructors and accessors are generated from the Java
classes (see sparkmoe.ml); this module has no params.
"""

from typing import Any, List

from pyspark.ml.util import JavaMLReadable, JavaMLReader, JavaMLWritable

JAVA_PACKAGE = "org.sparkmoe.ml"


class _MoEReader(JavaMLReader):
    """Reads with the JVM class org.sparkmoe.ml.<Python class name> (pyspark's own reader maps
    pyspark.ml.X to org.apache.spark.ml.X, which does not fit a third-party package)."""

    @classmethod
    def _java_loader_class(cls, clazz: type) -> str:
        return JAVA_PACKAGE + "." + clazz.__name__


class _MoEJavaStage(JavaMLReadable, JavaMLWritable):
    """Saved and loaded through the JVM class of the same name."""

    @classmethod
    def read(cls) -> JavaMLReader:
        """Returns an MLReader for this class (loads with the JVM class of the same name)."""
        return _MoEReader(cls)


class _MoEModelMethods:
    """Fitted models: experts on the driver or distributed on the executors (placement="sharded"
    at fit time, or toDistributed)."""

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


class _FeatureModelMethods:
    """Classification and regression models."""

    @property
    def numFeatures(self) -> int:
        """The length of the feature vectors the model was fitted on."""
        return self._call_java("numFeatures")


class _ClassificationModelMethods:
    """Classification models."""

    @property
    def numClasses(self) -> int:
        """The number of classes (labels 0 .. numClasses - 1)."""
        return self._call_java("numClasses")


class _LanguageModelMethods:
    """Language models."""

    def perplexity(self, dataset: Any) -> float:
        """Perplexity of the documents of textCol taken as one corpus."""
        self._transfer_params_to_java()
        return self._java_obj.perplexity(dataset._jdf)

    @property
    def vocabulary(self) -> List[str]:
        """The model's words by id (<unk> and <eos> first)."""
        return list(self._java_obj.vocabulary().words())
