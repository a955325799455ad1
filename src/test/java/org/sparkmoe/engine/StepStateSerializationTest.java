package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;

import scala.Tuple2;
import scala.reflect.ClassTag$;

/**
 * The per-step state the engine caches survives Kryo (as when Spark reads a cached block from
 * another executor) and the copies compute exactly what the originals do.
 */
class StepStateSerializationTest {

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void cachedStepStateRoundTripsThroughKryo(boolean flat) {
        SerializerInstance kryo = new KryoSerializer(SparkTestContext.conf("local[1]")).newInstance();
        MoENetwork net = flat ? DistributedStepEquivalenceTest.regressionNetwork() : DistributedStepEquivalenceTest.languageModelNetwork();
        List<RowBlock> blocks = flat ? DistributedStepEquivalenceTest.regressionBlocks(1) : DistributedStepEquivalenceTest.tokenBlocks(1);
        ModelParameters params = net.initialise(Precision.F64, 3);
        Matrix wg = params.shared().get(flat ? "gate.w_gate" : "gate.primary.w_gate");
        for (int i = 0; i < wg.size(); i++) wg.setFlat(i, Math.sin(i));
        BatchPlan plan = new BatchPlan(1, 24, new long[]{blocks.get(0).size()});
        StepContext ctx = new StepContext(net, Precision.F64, 1, 1, plan);

        PartitionStep ps = PartitionStep.gate(ctx, params.shared(), 0, blocks.iterator());
        PartitionStep psCopy = roundTrip(kryo, ps);
        ExpertPartitioner shards = new ExpertPartitioner(net.numExperts(), Math.min(2, net.numExperts()));
        List<Tuple2<Integer, ShuffleBlock>> keyed = ps.dispatch(shards, false);
        assertBlocksEqual(values(keyed), values(psCopy.dispatch(shards, false)));

        ShardStep ss = ShardStep.forward(ctx, 0, keyed.iterator(), e -> params.experts()[e]);
        ShardStep ssCopy = roundTrip(kryo, ss);
        List<Tuple2<Integer, ShuffleBlock>> outputs = ss.outputBlocks();
        assertBlocksEqual(values(outputs), values(ssCopy.outputBlocks()));

        double[] statsGradient = net.moe().balance(ps.stats).statsGradient();
        double lossScale = 1.0 / ps.weightSum();
        PartitionStep.Combined combined = ps.combine(ctx, params.shared(), statsGradient, lossScale, values(outputs).iterator());
        PartitionStep.Combined combinedCopy = roundTrip(kryo, psCopy.combine(ctx, params.shared(), statsGradient, lossScale,
                values(outputs).iterator()));
        assertEquals(combined.lossSum, combinedCopy.lossSum);
        assertMatrixEqual(combined.sharedGrad.flat(), combinedCopy.sharedGrad.flat());

        List<Tuple2<Integer, ShuffleBlock>> back = new ArrayList<>();
        for (ShuffleBlock b : combined.backward) back.add(new Tuple2<>(b.firstExpert(), b));
        Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>> r = ss.backward(ctx, back.iterator());
        Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>> rCopy = ssCopy.backward(ctx, back.iterator());
        for (int i = 0; i < r._1().grads().length; i++) {
            assertMatrixEqual(r._1().grads()[i].flat(), rCopy._1().grads()[i].flat());
        }
        PartitionResult result = combined.finish(ctx, params.shared(), values(r._2()).iterator());
        PartitionResult resultCopy = combinedCopy.finish(ctx, params.shared(), values(r._2()).iterator());
        assertMatrixEqual(result.sharedGrad().flat(), resultCopy.sharedGrad().flat());
    }

    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(SerializerInstance kryo, T value) {
        ByteBuffer bytes = kryo.serialize(value, ClassTag$.MODULE$.apply(Object.class));
        return (T) kryo.deserialize(bytes, ClassTag$.MODULE$.apply(Object.class));
    }

    private static List<ShuffleBlock> values(List<Tuple2<Integer, ShuffleBlock>> keyed) {
        List<ShuffleBlock> out = new ArrayList<>();
        for (Tuple2<Integer, ShuffleBlock> t : keyed) out.add(t._2());
        return out;
    }

    private static void assertBlocksEqual(List<ShuffleBlock> a, List<ShuffleBlock> b) {
        assertEquals(a.size(), b.size());
        Iterator<ShuffleBlock> ib = b.iterator();
        for (ShuffleBlock x : a) {
            ShuffleBlock y = ib.next();
            assertEquals(x.partition(), y.partition());
            assertEquals(java.util.Arrays.toString(x.segmentExperts()), java.util.Arrays.toString(y.segmentExperts()));
            assertEquals(java.util.Arrays.toString(x.segmentCounts()), java.util.Arrays.toString(y.segmentCounts()));
            assertMatrixEqual(x.rows(), y.rows());
        }
    }

    private static void assertMatrixEqual(Matrix a, Matrix b) {
        assertEquals(a.rows(), b.rows());
        assertEquals(a.cols(), b.cols());
        for (int i = 0; i < a.size(); i++) assertEquals(a.getFlat(i), b.getFlat(i), 0.0);
    }
}
