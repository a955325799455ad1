package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.DenseProjection;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.core.network.SquaredErrorHead;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.synthetic.RegimeMixture;
import org.sparkmoe.core.train.TrainerConfig;

import scala.reflect.ClassTag$;

/** The bfloat16 shuffle payload: what it does to a block, and to training against float32 payloads. */
class ShufflePayloadTest {

    @Test
    void bf16BlocksRoundEachValueToNearestBfloat16() {
        SerializerInstance kryo = new KryoSerializer(SparkTestContext.conf("local[1]")).newInstance();
        float[] v = {0f, -0f, 1f, -2.5f, 1.00390625f, 1.005859375f, 3.14159265f, 1e-30f, -7.2e12f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MIN_NORMAL, 65504f};
        FloatMatrix m = new FloatMatrix(v, 0, 2, 7);
        ShuffleBlock back = roundTrip(kryo, new ShuffleBlock(3, 5, m, true));
        assertEquals(3, back.partition());
        assertEquals(5, back.expert());
        assertEquals(2, back.rows().rows());
        assertEquals(7, back.rows().cols());
        for (int i = 0; i < v.length; i++) {
            float got = (float) back.rows().getFlat(i);
            if (Float.isNaN(v[i]) || Float.isInfinite(v[i])) {
                assertEquals(Float.toString(v[i]), Float.toString(got));
                continue;
            }
            // bfloat16 keeps 8 significant bits: round to nearest is within half a unit, 2^-8 relative
            assertTrue(Math.abs(got - v[i]) <= Math.abs(v[i]) * 0x1p-8f, v[i] + " came back as " + got);
            assertEquals(0, Float.floatToRawIntBits(got) & 0xffff, "low 16 bits of " + got);
        }
        assertEquals(1f, (float) back.rows().getFlat(2)); // exactly representable: unchanged
        assertEquals(1.0078125f, (float) back.rows().getFlat(5)); // 1 + 3/512 rounds up to 1 + 1/128
        assertEquals(1f, (float) back.rows().getFlat(4)); // 1 + 1/256 is a tie between 1 and 1 + 1/128: to even (1)
        // an F32 block is exact
        ShuffleBlock exact = roundTrip(kryo, new ShuffleBlock(0, 1, new FloatMatrix(v.clone(), 0, 2, 7)));
        for (int i = 0; i < v.length; i++) {
            assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits((float) exact.rows().getFlat(i)));
        }
    }

    /**
     * A block of several segments built from views of one larger array (an expert shard's arena)
     * travels as the views' own rows one after another and comes back as one matrix with the same
     * segments, in float32 exactly, in bfloat16 rounded, and in float64.
     */
    @Test
    void segmentedBlockOfViewsRoundTripsAsOneMatrix() {
        SerializerInstance kryo = new KryoSerializer(SparkTestContext.conf("local[1]")).newInstance();
        float[] arena = new float[20 * 3];
        for (int i = 0; i < arena.length; i++) arena[i] = i * 1.5f - 7f;
        // rows 2-3 (expert 4) and rows 10-12 (expert 9) of the arena, out of order in memory
        org.sparkmoe.core.linalg.Matrix[] parts = {new FloatMatrix(arena, 10 * 3, 3, 3), new FloatMatrix(arena, 2 * 3, 2, 3)};
        for (boolean bf16 : new boolean[]{false, true}) {
            ShuffleBlock back = roundTrip(kryo, new ShuffleBlock(1, new int[]{4, 9}, new int[]{3, 2}, parts, bf16));
            assertEquals(1, back.partition());
            assertEquals(2, back.segments());
            assertEquals(4, back.segmentExpert(0));
            assertEquals(9, back.segmentExpert(1));
            assertEquals(3, back.segmentRows(0));
            assertEquals(2, back.segmentRows(1));
            assertEquals(1, back.parts().length);
            assertEquals(5, back.rows().rows());
            int[] arenaRows = {10, 11, 12, 2, 3};
            for (int r = 0; r < 5; r++) {
                for (int c = 0; c < 3; c++) {
                    float want = arena[arenaRows[r] * 3 + c];
                    assertEquals(bf16 ? Float.intBitsToFloat((EngineSerializers.toBf16(want) & 0xffff) << 16) : want,
                            (float) back.rows().get(r, c), 0f);
                }
            }
        }
        double[] wide = new double[12];
        for (int i = 0; i < wide.length; i++) wide[i] = Math.PI * i;
        org.sparkmoe.core.linalg.Matrix[] doubles = {new org.sparkmoe.core.linalg.DoubleMatrix(wide, 6, 2, 3),
                new org.sparkmoe.core.linalg.DoubleMatrix(wide, 0, 1, 3)};
        ShuffleBlock back = roundTrip(kryo, new ShuffleBlock(0, new int[]{0, 1}, new int[]{1, 2}, doubles, true));
        assertEquals(Precision.F64, back.rows().precision());
        double[] want = {wide[6], wide[7], wide[8], wide[9], wide[10], wide[11], wide[0], wide[1], wide[2]};
        for (int i = 0; i < want.length; i++) assertEquals(want[i], back.rows().getFlat(i), 0.0);
    }

    /**
     * Training with bfloat16 payloads follows the float32 run: the same 40 steps (float32 Adam,
     * shuffle routing, sharded experts), mean loss over the last 10 steps within 5% of float32's.
     */
    @Test
    void bf16PayloadTrainsLikeF32() {
        JavaSparkContext sc = SparkTestContext.get();
        double[] f32 = losses(sc, ShufflePayload.F32);
        double[] bf16 = losses(sc, ShufflePayload.BF16);
        double tailF32 = 0, tailBf16 = 0;
        for (int s = f32.length - 10; s < f32.length; s++) {
            tailF32 += f32[s] / 10;
            tailBf16 += bf16[s] / 10;
        }
        System.out.printf(Locale.ROOT, "loss, first step / mean of last 10 of %d: F32 payload %.5f / %.5f, BF16 payload %.5f / %.5f (%+.2f%%)%n",
                f32.length, f32[0], tailF32, bf16[0], tailBf16, 100 * (tailBf16 / tailF32 - 1));
        assertEquals(f32[0], bf16[0], 1e-2 * f32[0], "first step: the forward pass differs only by rounding");
        assertTrue(tailF32 < 0.8 * f32[0], "float32 run did not learn");
        assertEquals(tailF32, tailBf16, 0.05 * tailF32);
    }

    private static double[] losses(JavaSparkContext sc, ShufflePayload payload) {
        int d = 16;
        MoENetwork net = new MoENetwork(new DenseProjection(8, d),
                new MoELayer(NoisyTopKGating.noisyTopK(d, 8, 2), new Expert(d, 16), false, BalanceWeights.PAPER),
                new SquaredErrorHead(d, 4));
        RegimeMixture data = new RegimeMixture(8, 4, 8, 0.1, 42);
        List<RowBlock> blocks = new ArrayList<>();
        for (int p = 0; p < 3; p++) blocks.add(RowBlock.of(data.batch(2000, p, Precision.F32)));
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.01, 5), 1.0, 7, Precision.F32);
        EngineConfig ec = new EngineConfig(RoutingMode.SHUFFLE, ExpertPlacement.SHARDED, 2, 96, tc, 10, false, payload);
        double[] losses = new double[40];
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, net, ec,
                sc.parallelize(blocks, 3))) {
            for (int s = 0; s < losses.length; s++) losses[s] = engine.trainStep().taskLoss();
        }
        return losses;
    }

    @Test
    void blocksReadInAnOpenArenaLandInItOneAfterAnother() {
        for (String unsafe : new String[]{"false", "true"}) {
            SerializerInstance kryo = new KryoSerializer(SparkTestContext.conf("local[1]").set("spark.kryo.unsafe", unsafe)).newInstance();
            float[] v = new float[30];
            for (int i = 0; i < v.length; i++) v[i] = 0.5f * i - 3;
            // a view, as the dispatch and dOut blocks are: only its own rows travel
            ShuffleBlock a = new ShuffleBlock(1, 2, new FloatMatrix(v, 6, 2, 3));
            ShuffleBlock b = new ShuffleBlock(1, 4, new FloatMatrix(v, 12, 3, 3), true);
            PartitionBuffers.ReadArena arena = new PartitionBuffers().arena();
            ShuffleBlock ra, rb;
            try (PartitionBuffers.ReadArena.Scope ignored = arena.open(15)) {
                ra = roundTrip(kryo, a);
                rb = roundTrip(kryo, b);
            }
            FloatMatrix fa = (FloatMatrix) ra.rows(), fb = (FloatMatrix) rb.rows();
            assertSame(fa.data(), fb.data(), "unsafe=" + unsafe);
            assertEquals(0, fa.offset());
            assertEquals(6, fb.offset());
            for (int i = 0; i < 6; i++) assertEquals(v[6 + i], (float) fa.getFlat(i));
            for (int i = 0; i < 9; i++) assertEquals(v[12 + i], (float) fb.getFlat(i)); // exact in bfloat16
            // the scope is closed: a read allocates its own array again
            FloatMatrix outside = (FloatMatrix) roundTrip(kryo, a).rows();
            assertNotSame(fa.data(), outside.data());
            assertEquals(6, outside.data().length);
        }
    }

    @Test
    void anArenaGrowsByHalfSoAReadThatWandersUpDoesNotReallocateItEachStep() {
        SerializerInstance kryo = new KryoSerializer(SparkTestContext.conf("local[1]")).newInstance();
        ShuffleBlock a = new ShuffleBlock(1, 2, new FloatMatrix(new float[6], 0, 2, 3));
        PartitionBuffers.ReadArena arena = new PartitionBuffers().arena();
        float[][] data = new float[3][];
        long[] expected = {15, 20, 21};
        for (int step = 0; step < 3; step++) {
            try (PartitionBuffers.ReadArena.Scope ignored = arena.open(expected[step])) {
                data[step] = ((FloatMatrix) roundTrip(kryo, a).rows()).data();
            }
        }
        // an eighth more than the first read
        assertEquals(16, data[0].length);
        // 20 > 16: grown by half again (24), not to 20 plus an eighth (22)
        assertEquals(24, data[1].length);
        assertSame(data[1], data[2], "a read 5% above the last one reused the arena");
    }

    @Test
    void anArenaThatHoldsTheReadIsKeptThoughTheReadGrew() {
        SerializerInstance kryo = new KryoSerializer(SparkTestContext.conf("local[1]")).newInstance();
        ShuffleBlock a = new ShuffleBlock(1, 2, new FloatMatrix(new float[6], 0, 2, 3));
        PartitionBuffers.ReadArena arena = new PartitionBuffers().arena();
        // an expert shard's read size wanders by a few percent from step to step; the arena (an eighth above the
        // first read) was reallocated at the first read above the first one, which at n = 256 fell in the timed steps
        long[] expected = {48, 50, 53, 54, 0};
        float[] first = null;
        for (int step = 0; step < expected.length; step++) {
            try (PartitionBuffers.ReadArena.Scope ignored = arena.open(expected[step])) {
                float[] data = ((FloatMatrix) roundTrip(kryo, a).rows()).data();
                if (step == 0) first = data;
                assertEquals(54, data.length);
                assertSame(first, data, "step " + step);
            }
        }
        try (PartitionBuffers.ReadArena.Scope ignored = arena.open(55)) {
            assertEquals(81, ((FloatMatrix) roundTrip(kryo, a).rows()).data().length, "a read that does not fit: grown by half");
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(SerializerInstance kryo, T value) {
        ByteBuffer bytes = kryo.serialize(value, ClassTag$.MODULE$.apply(Object.class));
        return (T) kryo.deserialize(bytes, ClassTag$.MODULE$.apply(Object.class));
    }
}
