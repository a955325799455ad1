"""spark-moe from PySpark: wrappers of the JVM estimators in org.sparkmoe.ml (see sparkmoe.ml).

The application jar (target/spark-moe_2.13-<version>-app.jar) must be on the Spark driver's class path.
"""

from sparkmoe.ml import *  # noqa: F401,F403
from sparkmoe.ml import __all__  # noqa: F401

__version__ = "0.1.0.dev0"
