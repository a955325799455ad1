"""The generated PySpark wrappers (src/main/python/sparkmoe) imported and driven without pyspark or a JVM:
over pyspark_stand_in/ (pyspark's class hierarchy and Params behaviour, see its __init__) and fake JVM
objects. Checks what the wrappers' own code does: the classes can be created (their bases linearise),
constructors and setParams are keyword-only and typed, the defaults are the signatures', fit wraps the
JVM model in the matching Python class with the params sent to the JVM, the reader names the JVM
class, the module is registered as org.sparkmoe.ml. Run by PySparkWrappersTest; on its own:

    cd src/test/python && python3 -m unittest -v test_wrappers_offline

The end-to-end check with a real pyspark and JVM is test_sparkmoe_pyspark.py (jobs/pyspark-check.sh).
"""

import inspect
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "pyspark_stand_in"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "main", "python"))

import pyspark  # noqa: E402

assert pyspark.__file__.startswith(os.path.join(HERE, "pyspark_stand_in")), "expected the stand-in, got " + pyspark.__file__

from pyspark.ml.wrapper import FAKE_JVM  # noqa: E402

import sparkmoe  # noqa: E402
from sparkmoe import ml  # noqa: E402

MODEL_OF = {
    "MoEClassifier": "MoEClassificationModel",
    "MoERegressor": "MoERegressionModel",
    "MoELanguageModelEstimator": "MoELanguageModel",
}


class FakeJavaStage:
    """A JVM stage as py4j shows it to the wrappers: params by name, fit, and the models' methods."""

    created = []

    def __init__(self, java_class, uid):
        self.java_class, self._uid = java_class, uid
        self.values, self.defaults = {}, {}
        FakeJavaStage.created.append(self)

    def uid(self):
        return self._uid

    def hasParam(self, name):
        return True

    def set(self, name, value):
        self.values[name] = value

    def setDefault(self, name, value):
        self.defaults[name] = value

    def isSet(self, name):
        return name in self.values

    def hasDefault(self, name):
        return name in self.defaults

    def getOrDefault(self, name):
        return self.values.get(name, self.defaults.get(name))

    def getDefault(self, name):
        return self.defaults[name]

    def fit(self, dataset):
        simple = self.java_class.rsplit(".", 1)[1]
        model = FakeJavaStage("org.sparkmoe.ml." + MODEL_OF[simple], self._uid)
        model.values, model.defaults = dict(self.values), dict(self.defaults)
        model.fitted_on = dataset
        return model

    def numClasses(self):
        return 3

    def numFeatures(self):
        return 4

    def isDistributed(self):
        return self.java_class.endswith("Model") and getattr(self, "distributed", False)

    def toLocal(self):
        m = FakeJavaStage(self.java_class, self._uid)
        m.values, m.defaults = dict(self.values), dict(self.defaults)
        return m

    def evaluate(self, dataset):
        return 6.5

    def isLargerBetter(self):
        return False


FAKE_JVM.new = FakeJavaStage


def stages():
    return [getattr(ml, name) for name in ml.__all__]


class OfflineWrappersTest(unittest.TestCase):
    def test_module(self):
        self.assertEqual(
            ["MoEClassifier", "MoEClassificationModel", "MoERegressor", "MoERegressionModel", "MoELanguageModelEstimator",
             "MoELanguageModel", "MoEPerplexityEvaluator"], ml.__all__)
        self.assertIs(sys.modules["org.sparkmoe.ml"], ml)
        self.assertIs(sparkmoe.MoEClassifier, ml.MoEClassifier)
        for cls in stages():
            self.assertEqual("org.sparkmoe.ml." + cls.__name__, cls.read()._java_loader_class(cls), cls.__name__)

    def test_constructors_are_keyword_only_with_the_defaults_in_their_signatures(self):
        for cls in (ml.MoEClassifier, ml.MoERegressor, ml.MoELanguageModelEstimator, ml.MoEPerplexityEvaluator):
            stage = cls()
            self.assertEqual("org.sparkmoe.ml." + cls.__name__, stage._java_obj.java_class)
            self.assertEqual(stage.uid, stage._java_obj.uid())
            for method in (cls.__init__, cls.setParams):
                sig = inspect.signature(method)
                kw = [p for p in sig.parameters.values() if p.name != "self"]
                self.assertTrue(all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in kw), cls.__name__)
                self.assertEqual(sorted(p.name for p in stage.params), sorted(p.name for p in kw), cls.__name__)
                for p in kw:
                    param = stage.getParam(p.name)
                    expected = stage.getOrDefault(param) if stage.hasDefault(param) else None
                    self.assertEqual(expected, p.default, "%s.%s %s" % (cls.__name__, method.__name__, p.name))
            with self.assertRaises(TypeError):
                cls("positional")
            with self.assertRaises(TypeError):
                cls(noSuchParam=1)
            doc = inspect.getdoc(cls)
            for p in stage.params:
                self.assertIn(p.name + " : ", doc, cls.__name__)

    def test_params_are_typed_and_set_fluently(self):
        moe = ml.MoEClassifier(numExperts=6, k=3, stepSize=0.05, seed=7, gating="softmax")
        self.assertEqual((6, 3, 0.05, 7, "softmax"), (moe.getNumExperts(), moe.getK(), moe.getStepSize(), moe.getSeed(), moe.getGating()))
        self.assertIs(moe, moe.setParams(maxSteps=12).setK(2).setExpertsCol("experts"))
        self.assertEqual((12, 2, "experts"), (moe.getMaxSteps(), moe.getK(), moe.getExpertsCol()))
        self.assertIsInstance(moe.getStepSize(), float)
        self.assertEqual(1.0, ml.MoERegressor(stepSize=1).getStepSize())
        with self.assertRaises(TypeError):
            ml.MoEClassifier(numExperts="many")
        with self.assertRaises(TypeError):
            ml.MoEClassifier().setRouting(3)
        # defaults are per instance: setting one estimator leaves another alone
        self.assertEqual(ml.MoEClassifier().getNumExperts(), type(moe)().getNumExperts())
        self.assertFalse(ml.MoEClassifier().isSet("numExperts"))

    def test_fit_wraps_the_jvm_model_with_the_params_sent(self):
        for est_cls, model_cls in ((ml.MoEClassifier, ml.MoEClassificationModel), (ml.MoERegressor, ml.MoERegressionModel),
                                   (ml.MoELanguageModelEstimator, ml.MoELanguageModel)):
            est = est_cls(numExperts=5, maxSteps=3)
            model = est.fit("a dataset")
            self.assertIsInstance(model, model_cls)
            self.assertEqual("org.sparkmoe.ml." + model_cls.__name__, model._java_obj.java_class)
            self.assertEqual((5, 3), (model._java_obj.values["numExperts"], model._java_obj.values["maxSteps"]))
            self.assertEqual(est.getK(), model._java_obj.defaults["k"])
            self.assertEqual((5, 3), (model.getNumExperts(), model.getMaxSteps()))
            self.assertEqual(est.uid, model.uid)
        model = ml.MoEClassifier().fit("rows")
        self.assertEqual((3, 4), (model.numClasses, model.numFeatures))
        self.assertIsInstance(model.toLocal(), ml.MoEClassificationModel)
        self.assertFalse(model.isDistributed)
        # a model as pyspark's loader makes it: no arguments, then the JVM object
        blank = ml.MoELanguageModel()
        self.assertEqual(ml.MoELanguageModelEstimator().getTextCol(), blank.getTextCol())

    def test_evaluator(self):
        ev = ml.MoEPerplexityEvaluator(numTargetsCol="n")
        self.assertEqual(("logLikelihood", "n"), (ev.getLogLikelihoodCol(), ev.getNumTargetsCol()))
        self.assertEqual(6.5, ev.evaluate("scored"))
        self.assertEqual("n", ev._java_obj.values["numTargetsCol"])
        self.assertFalse(ev.isLargerBetter())


if __name__ == "__main__":
    unittest.main(verbosity=2)
