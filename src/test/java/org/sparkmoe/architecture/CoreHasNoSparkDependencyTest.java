package org.sparkmoe.architecture;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The math core (org.sparkmoe.core) is plain Java: no Spark or Scala types anywhere in it, so it
 * can be tested, benchmarked and reused without a cluster. Checks sources and compiled classes.
 */
class CoreHasNoSparkDependencyTest {
    private static final String[] FORBIDDEN = {"org.apache.spark", "scala."};

    @Test
    void coreSourcesDoNotMentionSpark() throws IOException {
        Path core = Paths.get("src/main/java/org/sparkmoe/core");
        assertTrue(Files.isDirectory(core), "run from the project root: " + core.toAbsolutePath());
        List<String> offenders = new ArrayList<>();
        int files = 0;
        try (Stream<Path> paths = Files.walk(core)) {
            for (Path p : (Iterable<Path>) paths.filter(f -> f.toString().endsWith(".java"))::iterator) {
                files++;
                List<String> lines = Files.readAllLines(p);
                for (int i = 0; i < lines.size(); i++) {
                    String line = lines.get(i);
                    if (!line.startsWith("import ") && !line.contains("org.apache.spark")) continue;
                    for (String f : FORBIDDEN) {
                        if (line.contains(f)) offenders.add(p + ":" + (i + 1) + ": " + line.trim());
                    }
                }
            }
        }
        assertTrue(files > 20, "expected the core sources, found " + files + " files");
        assertTrue(offenders.isEmpty(), "Spark/Scala references in the core:\n" + String.join("\n", offenders));
    }

    @Test
    void coreClassesDoNotReferenceSpark() throws IOException {
        Path classes = Paths.get("target/classes/org/sparkmoe/core");
        assertTrue(Files.isDirectory(classes), "compiled core classes missing: " + classes.toAbsolutePath());
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> paths = Files.walk(classes)) {
            for (Path p : (Iterable<Path>) paths.filter(f -> f.toString().endsWith(".class"))::iterator) {
                // class-file constant pools hold referenced type names in internal form
                String text = new String(Files.readAllBytes(p), java.nio.charset.StandardCharsets.ISO_8859_1);
                if (text.contains("org/apache/spark/") || text.contains("Lscala/")) offenders.add(p.toString());
            }
        }
        assertTrue(offenders.isEmpty(), "core classes referencing Spark/Scala: " + offenders);
    }
}
