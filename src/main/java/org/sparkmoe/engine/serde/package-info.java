/**
 * What crosses the wire with Kryo (docs/DESIGN.md section 9):
 * {@link org.sparkmoe.engine.serde.MoEKryoRegistrator} (enable with
 * {@code spark.kryo.registrator}; the tests run with {@code spark.kryo.registrationRequired=true}),
 * {@link org.sparkmoe.engine.serde.MoESerializers} (versioned Kryo 4 serializers of the core and
 * engine types) and {@link org.sparkmoe.engine.serde.Wire} (their shared building blocks);
 * {@link org.sparkmoe.engine.serde.SerializerAdvice} checks a session's serializer before training;
 * {@link org.sparkmoe.engine.serde.ExecutorSerializer} is that serializer as the JVM's long-lived
 * instance, for the engine's shuffles (no new Kryo instances per task).
 *
 * <p>Layer: engine. May depend on {@code org.sparkmoe.core.*}, {@code org.sparkmoe.engine} (the
 * types it registers), Kryo and Spark; nothing above the engine.
 */
package org.sparkmoe.engine.serde;
