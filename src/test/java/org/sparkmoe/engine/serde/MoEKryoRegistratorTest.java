package org.sparkmoe.engine.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;

import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;

import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/** Round trips through Spark's KryoSerializer with registrationRequired=true. */
class MoEKryoRegistratorTest {

    static SparkConf conf() {
        return new SparkConf(false)
                .set("spark.serializer", KryoSerializer.class.getName())
                .set("spark.kryo.registrationRequired", "true")
                .set("spark.kryo.referenceTracking", "false")
                .set("spark.kryo.registrator", MoEKryoRegistrator.class.getName());
    }

    private final KryoSerializer serializer = new KryoSerializer(conf());
    private final SerializerInstance ser = serializer.newInstance();
    private static final ClassTag<Object> ANY = ClassTag$.MODULE$.AnyRef();

    private ByteBuffer bytes(Object o) {
        return ser.serialize(o, ANY);
    }

    @SuppressWarnings("unchecked")
    private <T> T roundTrip(T o) {
        return (T) ser.deserialize(bytes(o), ANY);
    }

    private static final ParameterLayout LAYOUT = ParameterLayout.builder()
            .add("w1", 3, 4).add("b1", 1, 4).add("w2", 4, 2).build();
    private static final ParameterLayout OTHER = ParameterLayout.builder().add("w", 2, 5).build();

    private static Parameters random(ParameterLayout layout, Precision p, long seed) {
        Random r = new Random(seed);
        Parameters out = layout.allocate(p);
        out.fill(r::nextGaussian);
        return out;
    }

    private static void assertSameValues(Matrix expected, Matrix actual) {
        assertEquals(expected.precision(), actual.precision());
        assertEquals(expected.rows(), actual.rows());
        assertEquals(expected.cols(), actual.cols());
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.getFlat(i), actual.getFlat(i), 0.0, "element " + i);
        }
    }

    private static void assertSameValues(Parameters expected, Parameters actual) {
        assertEquals(expected.layout(), actual.layout());
        assertSameValues(expected.flat(), actual.flat());
    }

    private static void assertCompact(Matrix m) {
        assertEquals(0, m.offset());
        int len = m instanceof FloatMatrix f ? f.data().length : ((DoubleMatrix) m).data().length;
        assertEquals(m.size(), len, "backing array holds exactly the matrix");
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void matrixRoundTrip(Precision p) {
        Matrix m = p.zeros(5, 7);
        Random r = new Random(1);
        for (int i = 0; i < m.size(); i++) m.setFlat(i, r.nextGaussian());
        Matrix back = roundTrip(m);
        assertNotSame(m, back);
        assertSameValues(m, back);
        assertCompact(back);

        Matrix empty = roundTrip(p.zeros(0, 3));
        assertEquals(0, empty.rows());
        assertEquals(3, empty.cols());
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void matrixViewAtOffsetSendsOnlyItsElements(Precision p) {
        int big = 100_000; // larger than the serializer's copy chunk, so views are copied in pieces
        Matrix whole = p.zeros(1, big);
        for (int i = 0; i < big; i++) whole.setFlat(i, i * 0.5);
        Matrix view = whole.slice(17, 3, 4);
        assertEquals(17, view.offset());

        Matrix back = roundTrip(view);
        assertSameValues(view, back);
        assertCompact(back);
        int elem = p == Precision.F32 ? 4 : 8;
        int size = bytes(view).remaining();
        assertTrue(size >= 12 * elem && size <= 12 * elem + 8, "only 12 elements on the wire, got " + size + " bytes");

        // a large view spanning several copy chunks, at an odd offset
        Matrix bigView = whole.slice(3, 1, big - 10);
        Matrix bigBack = roundTrip(bigView);
        assertSameValues(bigView, bigBack);
        assertCompact(bigBack);
    }

    @Test
    void layoutRoundTrip() {
        ParameterLayout back = roundTrip(LAYOUT);
        assertEquals(LAYOUT, back);
        assertEquals(LAYOUT.size(), back.size());
        assertEquals(LAYOUT.entry("w2"), back.entry("w2"));
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void parametersRoundTrip(Precision p) {
        Parameters params = random(LAYOUT, p, 2);
        Parameters back = roundTrip(params);
        assertEquals(p, back.precision());
        assertSameValues(params, back);
        assertSameValues(params.get("b1"), back.get("b1"));
        assertCompact(back.flat());

        // bytes: the vector itself plus a small header (names, shapes, version, precision)
        int elem = p == Precision.F32 ? 4 : 8;
        int size = bytes(params).remaining();
        assertTrue(size <= LAYOUT.size() * elem + 40, "compact encoding, got " + size + " bytes");
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void parametersOverAViewSendOnlyTheirElements(Precision p) {
        Matrix big = p.zeros(1, LAYOUT.size() + 50);
        for (int i = 0; i < big.size(); i++) big.setFlat(i, i);
        Parameters params = Parameters.wrap(LAYOUT, big.slice(25, 1, LAYOUT.size()));
        Parameters back = roundTrip(params);
        assertSameValues(params, back);
        assertEquals(25.0, back.flat().getFlat(0), 0.0);
        assertCompact(back.flat());
    }

    private static OptimiserState adam(ParameterLayout layout, Precision p, long seed) {
        return new OptimiserState(layout, List.of(
                new OptimiserState.Slot("m", random(layout, p, seed)),
                new OptimiserState.Slot("v", random(layout, p, seed + 1))));
    }

    private static void assertSameState(OptimiserState expected, OptimiserState actual) {
        assertEquals(expected.layout(), actual.layout());
        assertEquals(expected.slots().size(), actual.slots().size());
        for (int i = 0; i < expected.slots().size(); i++) {
            assertEquals(expected.slots().get(i).name(), actual.slots().get(i).name());
            assertSameValues(expected.slots().get(i).values(), actual.slots().get(i).values());
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void optimiserStateRoundTrip(Precision p) {
        OptimiserState s = adam(LAYOUT, p, 3);
        assertSameState(s, roundTrip(s));
        OptimiserState sgd = new OptimiserState(LAYOUT, List.of());
        OptimiserState sgdBack = roundTrip(sgd);
        assertEquals(LAYOUT, sgdBack.layout());
        assertTrue(sgdBack.slots().isEmpty());
    }

    private static ModelParameters model(Precision p) {
        // two experts share a layout (sent once), the third differs
        return new ModelParameters(random(OTHER, p, 10), new Parameters[] {
            random(LAYOUT, p, 11), random(LAYOUT, p, 12), random(OTHER, p, 13)});
    }

    private static void assertSameModel(ModelParameters expected, ModelParameters actual) {
        assertSameValues(expected.shared(), actual.shared());
        assertEquals(expected.experts().length, actual.experts().length);
        for (int i = 0; i < expected.experts().length; i++) {
            assertSameValues(expected.experts()[i], actual.experts()[i]);
        }
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void modelParametersRoundTrip(Precision p) {
        ModelParameters m = model(p);
        ModelParameters back = roundTrip(m);
        assertSameModel(m, back);
        // an expert layout equal to the previous expert's is read back as the same instance
        assertSame(back.experts()[0].layout(), back.experts()[1].layout());

        ModelParameters noExperts = roundTrip(new ModelParameters(random(LAYOUT, p, 1), new Parameters[0]));
        assertEquals(0, noExperts.experts().length);
    }

    @ParameterizedTest
    @EnumSource(Precision.class)
    void trainingStateRoundTrip(Precision p) {
        TrainingState s = new TrainingState(model(p), adam(OTHER, p, 20),
                new OptimiserState[] {adam(LAYOUT, p, 21), adam(LAYOUT, p, 22), new OptimiserState(OTHER, List.of())},
                123_456_789_012L);
        TrainingState back = roundTrip(s);
        assertSameModel(s.params(), back.params());
        assertSameState(s.sharedOptimiser(), back.sharedOptimiser());
        assertEquals(3, back.expertOptimisers().length);
        for (int i = 0; i < 3; i++) assertSameState(s.expertOptimisers()[i], back.expertOptimisers()[i]);
        assertEquals(s.step(), back.step());
    }

    @Test
    void balanceTypesRoundTrip() {
        BalanceWeights w = new BalanceWeights(0.1, 0.25);
        assertEquals(w, roundTrip(w));
        assertEquals(BalanceWeights.NONE, roundTrip(BalanceWeights.NONE));

        BalanceResult r = new BalanceResult(0.5, 0.75, new double[] {1, 2, 3}, new double[] {4, 5, 6}, null);
        BalanceResult back = roundTrip(r);
        assertEquals(0.5, back.importanceLoss());
        assertEquals(0.75, back.loadLoss());
        assertArrayEquals(r.importance(), back.importance());
        assertArrayEquals(r.load(), back.load());
        assertNull(back.statsGradient());
    }

    @Test
    void arraysOfOurTypesRoundTrip() {
        Object[] objs = {random(LAYOUT, Precision.F32, 1), random(LAYOUT, Precision.F64, 2)};
        Object[] back = roundTrip(objs);
        assertSameValues((Parameters) objs[0], (Parameters) back[0]);
        assertSameValues((Parameters) objs[1], (Parameters) back[1]);

        Parameters[] ps = {random(OTHER, Precision.F32, 3)};
        assertSameValues(ps[0], roundTrip(ps)[0]);
        OptimiserState[] os = {adam(OTHER, Precision.F64, 4)};
        assertSameState(os[0], roundTrip(os)[0]);
    }

    @Test
    void unknownVersionByteIsRejectedClearly() {
        // Through Spark: BalanceWeights is [class id][version][8 bytes][8 bytes]; corrupt the version.
        ByteBuffer buf = bytes(new BalanceWeights(0.1, 0.1));
        byte[] b = new byte[buf.remaining()];
        buf.get(b);
        int versionAt = b.length - 17;
        assertEquals(Wire.FORMAT_VERSION, b[versionAt]);
        b[versionAt] = 42;
        Exception e = assertThrows(Exception.class, () -> ser.deserialize(ByteBuffer.wrap(b), ANY));
        assertTrue(e.getMessage().contains("BalanceWeights") && e.getMessage().contains("version 42")
                && e.getMessage().contains("reads version " + Wire.FORMAT_VERSION), e.getMessage());

        // Every serializer checks its version first.
        Kryo kryo = serializer.newKryo();
        for (Class<?> c : List.of(FloatMatrix.class, DoubleMatrix.class, ParameterLayout.class, Parameters.class,
                OptimiserState.class, ModelParameters.class, TrainingState.class, BalanceWeights.class,
                BalanceResult.class)) {
            Input in = new Input(new byte[] {(byte) 200, 0, 0, 0, 0, 0, 0, 0, 0});
            KryoException ke = assertThrows(KryoException.class, () -> kryo.readObject(in, c), c.getName());
            assertTrue(ke.getMessage().contains(c.getSimpleName()) && ke.getMessage().contains("version 200"),
                    ke.getMessage());
        }
    }

    @Test
    void shippedDefaultsEnableTheRegistrator() throws java.io.IOException {
        java.util.Properties props = new java.util.Properties();
        try (var r = java.nio.file.Files.newBufferedReader(java.nio.file.Path.of("conf/spark-defaults.conf"))) {
            props.load(r); // spark-defaults.conf is whitespace-separated, which Properties accepts
        }
        assertEquals(KryoSerializer.class.getName(), props.getProperty("spark.serializer"));
        assertEquals(MoEKryoRegistrator.class.getName(), props.getProperty("spark.kryo.registrator"));
        // not shipped: it would fail MLlib's (and users') unregistered classes; the test suite sets it (SparkTestContext)
        org.junit.jupiter.api.Assertions.assertNull(props.getProperty("spark.kryo.registrationRequired"));
    }

    /** Not registered on purpose. */
    static final class Unregistered {
        int x = 1;
    }

    @Test
    void unregisteredClassFails() {
        Exception e = assertThrows(Exception.class, () -> bytes(new Unregistered()));
        assertTrue(e.getMessage().contains("not registered"), e.getMessage());
    }
}
