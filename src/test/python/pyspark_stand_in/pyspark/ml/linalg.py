"""pyspark.ml.linalg stand-in: the names the wrappers' annotations use."""


class Vector:
    pass


class Matrix:
    pass
