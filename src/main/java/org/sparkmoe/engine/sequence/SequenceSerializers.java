package org.sparkmoe.engine.sequence;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.serializers.JavaSerializer;

/**
 * Kryo registration of what the sequence engine sends: the cursors (to the partitions each step and
 * back with the results) and the cached document shelves. Small and few per step, so Java
 * serialisation inside Kryo is enough. Called by {@link org.sparkmoe.engine.serde.MoEKryoRegistrator}.
 */
public final class SequenceSerializers {
    private SequenceSerializers() {
    }

    public static void register(Kryo kryo) {
        JavaSerializer java = new JavaSerializer();
        kryo.register(SequenceCursor.class, java);
        kryo.register(SequenceCursor[].class, java);
        kryo.register(org.sparkmoe.core.recurrent.RecurrentState.class, java);
        kryo.register(DocumentShelf.class, java);
        kryo.register(SparkSequenceTrainer.Evaluation.class, java);
    }
}
