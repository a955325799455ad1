"""pyspark.ml.param stand-in: Param, Params and TypeConverters with pyspark's semantics."""

import copy
import uuid
from typing import Any, Generic, List, TypeVar

T = TypeVar("T")


class TypeConverters:
    @staticmethod
    def identity(value):
        return value

    @staticmethod
    def toInt(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise TypeError("Could not convert %s to int" % value)
        return int(value)

    @staticmethod
    def toFloat(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("Could not convert %s to float" % value)
        return float(value)

    @staticmethod
    def toString(value):
        if not isinstance(value, str):
            raise TypeError("Could not convert %s to string type" % type(value))
        return value

    @staticmethod
    def toBoolean(value):
        if not isinstance(value, bool):
            raise TypeError("Boolean Param requires value of type bool. Found %s." % type(value))
        return value

    @staticmethod
    def toListFloat(value):
        return [TypeConverters.toFloat(v) for v in value]

    @staticmethod
    def toListInt(value):
        return [TypeConverters.toInt(v) for v in value]

    @staticmethod
    def toListString(value):
        return [TypeConverters.toString(v) for v in value]

    @staticmethod
    def toVector(value):
        return value

    @staticmethod
    def toMatrix(value):
        return value


class Param(Generic[T]):
    def __init__(self, parent, name, doc, typeConverter=None):
        if not isinstance(parent, Identifiable):
            raise TypeError("Parent must be identifiable but got type %s." % type(parent))
        self.parent = parent.uid
        self.name = str(name)
        self.doc = str(doc)
        self.typeConverter = TypeConverters.identity if typeConverter is None else typeConverter

    def _copy_new_parent(self, parent):
        if self.parent == "undefined":
            param = copy.copy(self)
            param.parent = parent.uid
            return param
        raise ValueError("Cannot copy from non-dummy parent %s." % parent)

    def __hash__(self):
        return hash(str(self.parent) + "__" + self.name)

    def __eq__(self, other):
        return isinstance(other, Param) and self.parent == other.parent and self.name == other.name


class Identifiable:
    def __init__(self):
        self.uid = type(self).__name__ + "_" + uuid.uuid4().hex[-12:]


class Params(Identifiable):
    def __init__(self):
        super().__init__()
        self._paramMap = {}
        self._defaultParamMap = {}
        self._params = None
        self._copy_params()

    def _copy_params(self):
        cls = type(self)
        src_name_attrs = [(x, getattr(cls, x)) for x in dir(cls)]
        for name, param in [(n, a) for n, a in src_name_attrs if isinstance(a, Param)]:
            setattr(self, name, param._copy_new_parent(self))

    @property
    def params(self) -> List[Param]:
        if self._params is None:
            self._params = [getattr(self, x) for x in dir(self)
                            if x != "params" and not isinstance(getattr(type(self), x, None), property)
                            and isinstance(getattr(self, x), Param)]
        return self._params

    @staticmethod
    def _dummy():
        dummy = Params()
        dummy.uid = "undefined"
        return dummy

    def hasParam(self, paramName):
        return isinstance(getattr(self, paramName, None), Param)

    def getParam(self, paramName):
        p = getattr(self, paramName)
        if isinstance(p, Param):
            return p
        raise ValueError("Cannot find param with name %s." % paramName)

    def _resolveParam(self, param):
        return param if isinstance(param, Param) else self.getParam(param)

    def isSet(self, param):
        return self._resolveParam(param) in self._paramMap

    def hasDefault(self, param):
        return self._resolveParam(param) in self._defaultParamMap

    def isDefined(self, param):
        return self.isSet(param) or self.hasDefault(param)

    def getOrDefault(self, param):
        param = self._resolveParam(param)
        if param in self._paramMap:
            return self._paramMap[param]
        return self._defaultParamMap[param]

    def _set(self, **kwargs):
        return self._put(self._paramMap, "", kwargs)

    def _setDefault(self, **kwargs):
        return self._put(self._defaultParamMap, "default ", kwargs)

    def _put(self, target, what, kwargs):
        """pyspark's _set / _setDefault: each value through its param's type converter (None as it is)."""
        for param, value in kwargs.items():
            p = getattr(self, param)
            if value is not None:
                try:
                    value = p.typeConverter(value)
                except TypeError as e:
                    raise TypeError('Invalid %sparam value given for param "%s". %s' % (what, p.name, e))
            target[p] = value
        return self

    def _copyValues(self, to, extra=None):
        paramMap = self._paramMap.copy()
        for param in self.params:
            if param in self._defaultParamMap and to.hasParam(param.name):
                to._defaultParamMap[to.getParam(param.name)] = self._defaultParamMap[param]
            if param in paramMap and to.hasParam(param.name):
                to._set(**{param.name: paramMap[param]})
        return to

    def _resetUid(self, newUid):
        newUid = str(newUid)
        self.uid = newUid
        newDefaultParamMap, newParamMap = {}, {}
        for param in self.params:
            newParam = copy.copy(param)
            newParam.parent = newUid
            if param in self._defaultParamMap:
                newDefaultParamMap[newParam] = self._defaultParamMap[param]
            if param in self._paramMap:
                newParamMap[newParam] = self._paramMap[param]
            param.parent = newUid
        self._defaultParamMap = newDefaultParamMap
        self._paramMap = newParamMap
        return self
