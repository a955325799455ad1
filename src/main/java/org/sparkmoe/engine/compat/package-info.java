/**
 * The Spark calls whose signatures differ between the Spark lines spark-moe builds for (docs/DESIGN.md
 * section 9): {@code SparkCompat}, of which each line has its own copy, src/main/spark-4/java (default) and
 * src/main/spark-3.5/java (Maven profile {@code spark-3.5}); pom.xml compiles exactly one.
 *
 * <p>Layer: engine. May depend on Spark only; used by the engine and everything above it.
 */
package org.sparkmoe.engine.compat;
