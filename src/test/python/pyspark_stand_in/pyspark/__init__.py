"""A stand-in for the parts of pyspark that the generated wrappers (sparkmoe.ml) import, with pyspark's
class hierarchy (pyspark 3.5 / 4.x) and the behaviour of its Params, so that test_wrappers_offline.py
can import and drive the wrappers where pyspark is not installed. The JVM is a fake
(pyspark.ml.wrapper.FAKE_JVM). Not pyspark: what it checks is the wrappers' own code.
"""

from functools import wraps


def keyword_only(func):
    """pyspark.keyword_only: positional arguments are refused; the keyword arguments are kept in _input_kwargs."""

    @wraps(func)
    def wrapper(self, *args, **kwargs):
        if len(args) > 0:
            raise TypeError("Method %s forces keyword arguments." % func.__name__)
        self._input_kwargs = kwargs
        return func(self, **kwargs)

    return wrapper
