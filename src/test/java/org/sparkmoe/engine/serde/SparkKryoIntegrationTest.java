package org.sparkmoe.engine.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.serializer.KryoSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The registrator inside a real local SparkContext: Parameters is not java.io.Serializable, so
 * the data can only reach the tasks and come back through Kryo.
 */
class SparkKryoIntegrationTest {
    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        // the shared test context: one SparkContext per JVM, configured with the registrator
        sc = org.sparkmoe.engine.SparkTestContext.get();
        assertEquals("true", sc.getConf().get("spark.kryo.registrationRequired"));
        assertEquals(MoEKryoRegistrator.class.getName(), sc.getConf().get("spark.kryo.registrator"));
    }

    @Test
    void parametersTravelThroughParallelizeMapAndCollect() {
        ParameterLayout layout = ParameterLayout.builder().add("w", 2, 3).add("b", 1, 3).build();
        List<Parameters> in = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            Parameters p = layout.allocate(k % 2 == 0 ? Precision.F32 : Precision.F64);
            for (int i = 0; i < layout.size(); i++) p.flat().setFlat(i, 10 * k + i);
            in.add(p);
        }
        assertTrue(SparkEnv.get().serializer() instanceof KryoSerializer);
        Broadcast<BalanceWeights> factor = sc.broadcast(new BalanceWeights(3, 0));

        List<Parameters> out = sc.parallelize(in, 2).map(p -> {
            Parameters q = p.copy();
            q.flat().scale(factor.value().importance());
            return q;
        }).collect();

        assertEquals(4, out.size());
        for (int k = 0; k < 4; k++) {
            Parameters q = out.get(k);
            assertEquals(layout, q.layout());
            assertEquals(in.get(k).precision(), q.precision());
            for (int i = 0; i < layout.size(); i++) {
                assertEquals(3.0 * (10 * k + i), q.flat().getFlat(i), 0.0);
            }
            assertEquals(3.0 * (10 * k + layout.size() - 1), q.get("b").get(0, 2), 0.0);
        }
    }
}
