"""pyspark.ml.param.shared stand-in: the shared-param mixins (a Param, its default, a getter), as
pyspark's code generator writes them, made here by one function."""

from pyspark.ml.param import Param, Params, TypeConverters


def _mixin(class_name, name, converter, default=None):
    def __init__(self):
        super(cls, self).__init__()
        if default is not None:
            self._setDefault(**{name: default})

    def getter(self):
        return self.getOrDefault(getattr(self, name))

    cls = type(class_name, (Params,), {
        name: Param(Params._dummy(), name, name + " (pyspark's doc)", typeConverter=getattr(TypeConverters, converter)),
        "__init__": __init__,
        "get" + name[0].upper() + name[1:]: getter,
    })
    return cls


HasMaxIter = _mixin("HasMaxIter", "maxIter", "toInt")
HasRegParam = _mixin("HasRegParam", "regParam", "toFloat")
HasFeaturesCol = _mixin("HasFeaturesCol", "featuresCol", "toString", "features")
HasLabelCol = _mixin("HasLabelCol", "labelCol", "toString", "label")
HasPredictionCol = _mixin("HasPredictionCol", "predictionCol", "toString", "prediction")
HasProbabilityCol = _mixin("HasProbabilityCol", "probabilityCol", "toString", "probability")
HasRawPredictionCol = _mixin("HasRawPredictionCol", "rawPredictionCol", "toString", "rawPrediction")
HasCheckpointInterval = _mixin("HasCheckpointInterval", "checkpointInterval", "toInt")
HasSeed = _mixin("HasSeed", "seed", "toInt")
HasTol = _mixin("HasTol", "tol", "toFloat")
HasStepSize = _mixin("HasStepSize", "stepSize", "toFloat")
HasThresholds = _mixin("HasThresholds", "thresholds", "toListFloat")
HasThreshold = _mixin("HasThreshold", "threshold", "toFloat")
HasWeightCol = _mixin("HasWeightCol", "weightCol", "toString")
HasValidationIndicatorCol = _mixin("HasValidationIndicatorCol", "validationIndicatorCol", "toString")
HasInputCol = _mixin("HasInputCol", "inputCol", "toString")
HasInputCols = _mixin("HasInputCols", "inputCols", "toListString")
HasOutputCol = _mixin("HasOutputCol", "outputCol", "toString")
HasOutputCols = _mixin("HasOutputCols", "outputCols", "toListString")
HasNumFeatures = _mixin("HasNumFeatures", "numFeatures", "toInt")
HasRelativeError = _mixin("HasRelativeError", "relativeError", "toFloat")
HasHandleInvalid = _mixin("HasHandleInvalid", "handleInvalid", "toString")
HasElasticNetParam = _mixin("HasElasticNetParam", "elasticNetParam", "toFloat")
HasFitIntercept = _mixin("HasFitIntercept", "fitIntercept", "toBoolean")
HasStandardization = _mixin("HasStandardization", "standardization", "toBoolean")
HasSolver = _mixin("HasSolver", "solver", "toString")
HasVarianceCol = _mixin("HasVarianceCol", "varianceCol", "toString")
HasAggregationDepth = _mixin("HasAggregationDepth", "aggregationDepth", "toInt")
HasParallelism = _mixin("HasParallelism", "parallelism", "toInt")
HasCollectSubModels = _mixin("HasCollectSubModels", "collectSubModels", "toBoolean")
HasLoss = _mixin("HasLoss", "loss", "toString")
HasDistanceMeasure = _mixin("HasDistanceMeasure", "distanceMeasure", "toString")
HasBlockSize = _mixin("HasBlockSize", "blockSize", "toInt")
HasMaxBlockSizeInMB = _mixin("HasMaxBlockSizeInMB", "maxBlockSizeInMB", "toFloat")
