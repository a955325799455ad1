"""spark-moe from PySpark: wrappers of the JVM estimators in org.sparkmoe.ml (see sparkmoe.ml).

The application jar (target/spark-moe-<version>-app.jar) must be on the Spark driver's class path.
"""

from sparkmoe.ml import (  # noqa: F401
    MoEClassificationModel,
    MoEClassifier,
    MoELanguageModel,
    MoELanguageModelEstimator,
    MoEPerplexityEvaluator,
    MoERegressionModel,
    MoERegressor,
)

__version__ = "0.1.0.dev0"
__all__ = [
    "MoEClassifier",
    "MoEClassificationModel",
    "MoERegressor",
    "MoERegressionModel",
    "MoELanguageModelEstimator",
    "MoELanguageModel",
    "MoEPerplexityEvaluator",
]
