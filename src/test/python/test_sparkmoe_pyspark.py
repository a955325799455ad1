"""End-to-end check of the PySpark wrappers (src/main/python/sparkmoe) against the JVM classes.

Needs pyspark (and py4j) importable and the application jar on the driver's class path; run it with
jobs/pyspark-check.sh, which arranges both (or reports that it skipped). Plain unittest, so
``python3 -m unittest`` and ``pytest`` both run it. The whole module is skipped when pyspark is missing.
"""

import inspect
import json
import math
import os
import random
import shutil
import tempfile
import unittest

try:
    import pyspark  # noqa: F401
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import SQLTransformer, StringIndexer, VectorAssembler
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit, TrainValidationSplitModel
    from pyspark.sql import SparkSession

    HAVE_PYSPARK = True
except ImportError:  # pragma: no cover - reported as a skip
    HAVE_PYSPARK = False

if HAVE_PYSPARK:
    from sparkmoe import (
        MoEClassificationModel,
        MoEClassifier,
        MoELanguageModel,
        MoELanguageModelEstimator,
        MoEPerplexityEvaluator,
        MoERegressionModel,
        MoERegressor,
    )


def rule_rows(n, seed):
    """Four features; class: x0 > 0 ? (x1 > 0 ? b : a) : (x2 > 0 ? c : a); y: x0 > 0 ? 2 x1 : -3 x2."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        x = [rnd.uniform(-1, 1) for _ in range(4)]
        c = (1 if x[1] > 0 else 0) if x[0] > 0 else (2 if x[2] > 0 else 0)
        y = 2 * x[1] if x[0] > 0 else -3 * x[2]
        rows.append((i, x[0], x[1], x[2], x[3], "abc"[c], y))
    return rows


WORDS = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "we", "xa", "yo"]


def markov_docs(n, seed):
    """Documents from two deterministic-ish Markov chains over 12 words (each word has 2 likely successors)."""
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        shift = 1 + (i % 2) * 4
        w = rnd.randrange(len(WORDS))
        out = []
        for _ in range(rnd.randint(8, 20)):
            out.append(WORDS[w])
            w = (w + shift + (rnd.random() < 0.3)) % len(WORDS)
        docs.append((i, "<p>" + " ".join(out).upper() + "</p>"))
    return docs


@unittest.skipUnless(HAVE_PYSPARK, "pyspark is not importable")
class SparkMoEPySparkTest(unittest.TestCase):
    spark = None
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.spark = (
            SparkSession.builder.master(os.environ.get("SPARK_MOE_MASTER", "local[2]"))
            .appName("sparkmoe-pyspark-check")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        cls.spark.sparkContext.setLogLevel("WARN")
        cls.tmp = tempfile.mkdtemp(prefix="sparkmoe-pyspark-")
        features = "id LONG, x0 DOUBLE, x1 DOUBLE, x2 DOUBLE, x3 DOUBLE, name STRING, y DOUBLE"
        cls.train = cls.frame("train", rule_rows(1500, 11), features).repartition(2).cache()
        cls.test = cls.frame("test", rule_rows(300, 12), features).cache()
        cls.docs = cls.frame("docs", markov_docs(300, 5), "id LONG, raw STRING").repartition(2).cache()
        cls.held = cls.frame("held", markov_docs(60, 6), "id LONG, raw STRING").cache()

    @classmethod
    def frame(cls, name, rows, ddl):
        """A DataFrame of rows, read by the JVM from a JSON-lines file. (Not createDataFrame: that runs
        Python workers, which the wrappers never need, and which must match the JVM's Spark version
        exactly; this keeps the check to what sparkmoe itself uses.)"""
        names = [c.strip().split(" ")[0] for c in ddl.split(",")]
        path = os.path.join(cls.tmp, name + ".json")
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(dict(zip(names, r))) + "\n")
        return cls.spark.read.schema(ddl).json(path)

    @classmethod
    def tearDownClass(cls):
        if cls.spark is not None:
            cls.spark.stop()
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    @staticmethod
    def column(df, col):
        return [r[0] for r in df.orderBy("id").select(col).collect()]

    def test_python_params_match_the_java_params(self):
        for cls in (MoEClassifier, MoERegressor, MoELanguageModelEstimator, MoEPerplexityEvaluator):
            stage = cls()
            java = {p.name() for p in stage._java_obj.params()}
            python = {p.name for p in stage.params}
            self.assertEqual(java, python, cls.__name__)
            # the Python defaults are the Java defaults
            for p in stage.params:
                jp = stage._java_obj.getParam(p.name)
                if stage._java_obj.hasDefault(jp):
                    self.assertEqual(stage._java_obj.getDefault(jp).get(), stage.getOrDefault(p), p.name)
                    # the keyword-only signature shows the same default
                    sig = inspect.signature(cls.__init__).parameters[p.name]
                    self.assertIs(inspect.Parameter.KEYWORD_ONLY, sig.kind, p.name)
                    self.assertEqual(stage.getOrDefault(p), sig.default, p.name)
        moe = MoEClassifier(numExperts=6, k=3, stepSize=0.05, seed=7)
        self.assertEqual((6, 3, 0.05, 7), (moe.getNumExperts(), moe.getK(), moe.getStepSize(), moe.getSeed()))
        self.assertIs(moe, moe.setParams(maxSteps=12).setK(2))
        self.assertEqual((12, 2), (moe.getMaxSteps(), moe.getK()))
        with self.assertRaises(TypeError):
            MoEClassifier(noSuchParam=1)
        with self.assertRaises(TypeError):
            MoEClassifier(4)  # keyword-only

    def test_classifier_pipeline_fit_save_load_identical_predictions(self):
        assembler = VectorAssembler(inputCols=["x0", "x1", "x2", "x3"], outputCol="features")
        indexer = StringIndexer(inputCol="name", outputCol="label")
        moe = MoEClassifier(numExperts=4, k=2, modelDim=16, expertHiddenSize=16, batchSize=128,
                            maxSteps=120, stepSize=0.02, expertsCol="experts")
        pipeline = Pipeline(stages=[assembler, indexer, moe])
        model = pipeline.fit(self.train)
        fitted = model.stages[2]
        self.assertIsInstance(fitted, MoEClassificationModel)
        self.assertEqual(3, fitted.numClasses)
        self.assertEqual(4, fitted.numFeatures)
        self.assertEqual(120, fitted.getMaxSteps())
        scored = model.transform(self.test)
        acc = scored.filter("prediction = label").count() / scored.count()
        print("pyspark pipeline accuracy %.3f" % acc)
        self.assertGreater(acc, 0.7)

        path = self.path("pipeline")
        model.write().overwrite().save(path)
        model.write().overwrite().save(path)  # overwrite an existing one
        loaded = PipelineModel.load(path)
        self.assertIsInstance(loaded.stages[2], MoEClassificationModel)
        self.assertEqual(fitted.uid, loaded.stages[2].uid)
        again = loaded.transform(self.test)
        self.assertEqual(self.column(scored, "prediction"), self.column(again, "prediction"))
        self.assertEqual([v.toArray().tolist() for v in self.column(scored, "probability")],
                         [v.toArray().tolist() for v in self.column(again, "probability")])
        self.assertEqual(self.column(scored, "experts"), self.column(again, "experts"))

        # the estimator and the unfitted pipeline round-trip with their params
        pipeline.write().overwrite().save(self.path("unfitted"))
        est = Pipeline.load(self.path("unfitted")).getStages()[2]
        self.assertIsInstance(est, MoEClassifier)
        self.assertEqual((moe.uid, 120, "experts"), (est.uid, est.getMaxSteps(), est.getExpertsCol()))
        moe.write().overwrite().save(self.path("estimator"))
        self.assertEqual(0.02, MoEClassifier.load(self.path("estimator")).getStepSize())
        self.assertEqual(fitted.uid, MoEClassificationModel.load(self.path("pipeline") + "/stages/2_" + fitted.uid).uid)

    def test_regressor(self):
        assembler = VectorAssembler(inputCols=["x0", "x1", "x2", "x3"], outputCol="features")
        data = assembler.transform(self.train).withColumnRenamed("y", "label")
        model = MoERegressor(numExperts=4, k=2, modelDim=16, expertHiddenSize=16, batchSize=128,
                             maxSteps=80, stepSize=0.02, routing="local").fit(data)
        self.assertIsInstance(model, MoERegressionModel)
        scored = model.transform(data)
        mse = scored.selectExpr("avg((prediction - label) * (prediction - label))").first()[0]
        var = data.selectExpr("variance(label)").first()[0]
        print("pyspark regressor mse %.4f, label variance %.4f" % (mse, var))
        self.assertLess(mse, 0.5 * var)
        self.assertFalse(model.isDistributed)
        model.write().overwrite().save(self.path("regressor"))
        back = MoERegressionModel.load(self.path("regressor"))
        self.assertEqual(self.column(scored, "prediction"), self.column(back.transform(data), "prediction"))

        # experts kept on the executors (sharded placement), gathered back with toLocal()
        sharded = MoERegressor(numExperts=4, k=2, modelDim=16, expertHiddenSize=16, batchSize=128, maxSteps=20,
                               stepSize=0.02, placement="sharded", expertShards=2).fit(data)
        self.assertTrue(sharded.isDistributed)
        local = sharded.toLocal()
        self.assertIsInstance(local, MoERegressionModel)
        self.assertFalse(local.isDistributed)
        self.assertEqual((sharded.uid, "sharded", 20), (local.uid, local.getPlacement(), local.getMaxSteps()))
        a = self.column(sharded.transform(data), "prediction")
        b = self.column(local.transform(data), "prediction")
        self.assertEqual(len(a), len(b))
        self.assertLess(max(abs(x - y) for x, y in zip(a, b)), 1e-4)
        sharded.unpersist()

    def lm(self, **kwargs):
        params = dict(vocabularySize=50, context=2, embeddingDim=8, modelDim=16, numExperts=4, k=2,
                      expertHiddenSize=16, batchSize=256, maxSteps=40, stepSize=0.03, routing="local", seed=3)
        params.update(kwargs)
        return MoELanguageModelEstimator(**params)

    def test_language_model_pipeline_save_load_and_tuning(self):
        strip = SQLTransformer(statement="SELECT id, regexp_replace(raw, '<[^>]*>', ' ') AS text FROM __THIS__")
        lm = self.lm(predictionCol="next")
        model = Pipeline(stages=[strip, lm]).fit(self.docs)
        fitted = model.stages[1]
        self.assertIsInstance(fitted, MoELanguageModel)
        self.assertEqual(["<unk>", "<eos>"], fitted.vocabulary[:2])
        self.assertEqual(sorted(WORDS), sorted(fitted.vocabulary[2:]))  # lower-cased, no markup
        scored = model.transform(self.held)
        ppl = fitted.perplexity(strip.transform(self.held))
        print("pyspark language model held-out perplexity %.3f (uniform %d)" % (ppl, len(fitted.vocabulary)))
        self.assertLess(ppl, len(fitted.vocabulary) / 2)
        self.assertAlmostEqual(ppl, MoEPerplexityEvaluator().evaluate(scored), delta=1e-9 * ppl)

        path = self.path("lm-pipeline")
        model.write().overwrite().save(path)
        again = PipelineModel.load(path).transform(self.held)
        for col in ("logLikelihood", "perplexity", "numTargets", "next"):
            self.assertEqual(self.column(scored, col), self.column(again, col), col)

        # TrainValidationSplit over the pipeline: 40 steps beat 1 step
        grid = ParamGridBuilder().addGrid(lm.maxSteps, [1, 40]).build()
        tvs = TrainValidationSplit(estimator=Pipeline(stages=[strip, lm]), estimatorParamMaps=grid,
                                   evaluator=MoEPerplexityEvaluator(), trainRatio=0.75, seed=5)
        tuned = tvs.fit(self.docs)
        metrics = tuned.validationMetrics
        print("pyspark TrainValidationSplit perplexity: 1 step %.3f, 40 steps %.3f" % tuple(metrics))
        self.assertLess(metrics[1], metrics[0])
        self.assertEqual(40, tuned.bestModel.stages[1].getMaxSteps())
        tuned.write().overwrite().save(self.path("tvs"))
        back = TrainValidationSplitModel.load(self.path("tvs"))
        self.assertIsInstance(back.getEvaluator(), MoEPerplexityEvaluator)
        self.assertFalse(back.getEvaluator().isLargerBetter())
        self.assertEqual(self.column(tuned.bestModel.transform(self.held), "logLikelihood"),
                         self.column(back.bestModel.transform(self.held), "logLikelihood"))
        self.assertTrue(all(math.isfinite(v) for v in metrics))


if __name__ == "__main__":
    unittest.main(verbosity=2)
