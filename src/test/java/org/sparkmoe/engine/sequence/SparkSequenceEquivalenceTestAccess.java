package org.sparkmoe.engine.sequence;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.TrainerConfig;

/** The fixtures of {@link SparkSequenceEquivalenceTest} for tests in other packages. */
public final class SparkSequenceEquivalenceTestAccess {
    private SparkSequenceEquivalenceTestAccess() {
    }

    public static RecurrentLanguageModel model(String kind) {
        return SparkSequenceEquivalenceTest.model(kind);
    }

    public static TrainerConfig trainer(Precision precision) {
        return SparkSequenceEquivalenceTest.trainer(precision);
    }

    public static JavaPairRDD<Long, int[]> documents(JavaSparkContext sc, int count) {
        return SparkSequenceEquivalenceTest.documents(sc, count);
    }
}
