package org.sparkmoe.engine.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The build compiled the {@link SparkCompat} of the Spark line that is on the classpath (pom.xml's default,
 * or {@code -Pspark-3.5}), and that line's provided classpath is consistent: the one jobs/moe-submit.sh runs
 * SparkSubmit from when Spark is not installed. A jackson-core older than jackson-databind (2.14 next to
 * 2.15 under Spark 3.5 before the profile imported Spark's Jackson BOM) fails at runtime with
 * NoSuchMethodError deep inside Spark.
 */
class SparkLineTest {

    @Test
    void compatClassMatchesTheSparkOnTheClasspath() throws ReflectiveOperationException {
        // org.apache.spark.package$ (a Scala package object; "package" is not a Java identifier)
        Class<?> pkg = Class.forName("org.apache.spark.package$");
        String version = (String) pkg.getMethod("SPARK_VERSION").invoke(pkg.getField("MODULE$").get(null));
        assertTrue(version.startsWith(SparkCompat.SPARK_LINE + "."),
                "SparkCompat for Spark " + SparkCompat.SPARK_LINE + " compiled, but Spark " + version + " is on the classpath");
    }

    @Test
    void jacksonCoreAndDatabindAreTheSameMinorVersion() {
        com.fasterxml.jackson.core.Version core = com.fasterxml.jackson.core.json.PackageVersion.VERSION;
        com.fasterxml.jackson.core.Version databind = com.fasterxml.jackson.databind.cfg.PackageVersion.VERSION;
        assertEquals(databind.getMajorVersion() + "." + databind.getMinorVersion(),
                core.getMajorVersion() + "." + core.getMinorVersion(),
                "jackson-core " + core + " next to jackson-databind " + databind);
    }
}
