package org.sparkmoe.engine.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.HashSet;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Registration;

/**
 * Spark's Java serializer (a plain session's default) must handle everything Kryo handles: every
 * spark-moe class {@link MoEKryoRegistrator} registers is {@link Serializable}, and so is every type its
 * instance fields can hold; matrices travel as their own elements, not their backing arrays.
 */
class JavaSerializableTest {

    @Test
    void everyRegisteredSparkMoeTypeIsJavaSerializable() {
        Kryo kryo = new Kryo();
        MoEKryoRegistrator.register(kryo);
        Set<String> offenders = new TreeSet<>();
        Set<Class<?>> seen = new HashSet<>();
        int ours = 0;
        for (int id = 0; id < kryo.getNextRegistrationId(); id++) {
            Registration r = kryo.getRegistration(id);
            if (r == null) continue;
            Class<?> c = element(r.getType());
            if (!c.getName().startsWith("org.sparkmoe.")) continue;
            ours++;
            check(c, c.getName(), seen, offenders);
        }
        assertTrue(ours >= 20, "only " + ours + " spark-moe classes registered");
        assertTrue(offenders.isEmpty(), "not java.io.Serializable (Spark's Java serializer would fail on them):\n"
                + String.join("\n", offenders));
    }

    /** {@code c} is Serializable, and so are the declared types of its instance fields, transitively. */
    static void check(Class<?> c, String via, Set<Class<?>> seen, Set<String> offenders) {
        c = element(c);
        if (c.isPrimitive() || !seen.add(c)) return;
        if (!Serializable.class.isAssignableFrom(c)) {
            if (!c.isInterface() || c.getName().startsWith("org.sparkmoe.")) offenders.add(c.getName() + " (via " + via + ")");
            return;
        }
        if (!c.getName().startsWith("org.sparkmoe.")) return; // JDK / library types: their own business
        if (hasWriteReplace(c)) return;                       // travels as its serial form
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            for (Field f : k.getDeclaredFields()) {
                int m = f.getModifiers();
                if (Modifier.isStatic(m) || Modifier.isTransient(m)) continue;
                check(f.getType(), c.getSimpleName() + "." + f.getName(), seen, offenders);
            }
        }
    }

    static boolean hasWriteReplace(Class<?> c) {
        try {
            c.getDeclaredMethod("writeReplace");
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    static Class<?> element(Class<?> c) {
        while (c.isArray()) c = c.getComponentType();
        return c;
    }

    @Test
    void aMatrixViewTravelsAsItsOwnElements() throws Exception {
        float[] big = new float[1 << 20];
        for (int i = 0; i < big.length; i++) big[i] = i;
        FloatMatrix view = new FloatMatrix(big, 1000, 3, 4);
        byte[] bytes = serialize(view);
        assertTrue(bytes.length < 400, "a 3x4 view of a 1M-float array serialised to " + bytes.length + " bytes");
        FloatMatrix back = (FloatMatrix) deserialize(bytes);
        assertEquals(3, back.rows());
        assertEquals(4, back.cols());
        assertEquals(0, back.offset());
        for (int i = 0; i < 12; i++) assertEquals(1000 + i, back.getFlat(i));

        DoubleMatrix d = new DoubleMatrix(2, 3);
        for (int i = 0; i < 6; i++) d.setFlat(i, i * 0.5);
        Matrix dBack = (Matrix) deserialize(serialize(d));
        assertEquals(6, dBack.size());
        for (int i = 0; i < 6; i++) assertEquals(i * 0.5, dBack.getFlat(i));
        // float32 stays 4 bytes a value: a 256x256 matrix is about 256 KiB, not 512
        int n = serialize(new FloatMatrix(256, 256)).length;
        assertTrue(n > 256 * 256 * 4 && n < 256 * 256 * 4 + 400, n + " bytes");
        assertArrayEquals(new float[] {1000, 1001, 1002, 1003}, java.util.Arrays.copyOf(back.data(), 4));
    }

    static byte[] serialize(Object o) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(b)) {
            out.writeObject(o);
        }
        return b.toByteArray();
    }

    static Object deserialize(byte[] bytes) throws IOException, ClassNotFoundException {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
            return in.readObject();
        }
    }

}
