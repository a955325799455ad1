"""pyspark.ml.util stand-in: the readers and writers the wrappers use."""


class JavaMLReader:
    def __init__(self, clazz):
        self._clazz = clazz
        self._jread = None

    @classmethod
    def _java_loader_class(cls, clazz):
        java_package = clazz.__module__.replace("pyspark", "org.apache.spark")
        return java_package + "." + clazz.__name__


class JavaMLWriter:
    def __init__(self, instance):
        self._instance = instance


class JavaMLReadable:
    @classmethod
    def read(cls):
        return JavaMLReader(cls)

    @classmethod
    def load(cls, path):
        return cls.read().load(path)


class JavaMLWritable:
    def write(self):
        return JavaMLWriter(self)
