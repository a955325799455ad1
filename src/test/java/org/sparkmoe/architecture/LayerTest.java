package org.sparkmoe.architecture;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The layer map, every pair of layers checked on the compiled classes (a class file's constant pool
 * names every type it uses):
 *
 * <pre>
 *   core  &lt;-  engine  &lt;-  (data, app)  &lt;-  (job, ml)
 * </pre>
 *
 * A layer uses only the layers to its left; the two of a pair (data and app, job and ml) do not use
 * each other. {@code data} uses only the core (its row blocks are a core type).
 */
class LayerTest {
    /** Each layer (a package under org.sparkmoe, with its sub-packages) and the layers it may use besides itself. */
    static final Map<String, Set<String>> MAY_USE = Map.of(
            "core", Set.of(),
            "engine", Set.of("core"),
            "data", Set.of("core"),
            "app", Set.of("core", "engine"),
            "job", Set.of("core", "engine", "data", "app"),
            "ml", Set.of("core", "engine", "data", "app"));

    @Test
    void everyLayerUsesOnlyTheLayersBelowIt() throws IOException {
        Path root = Paths.get("target/classes/org/sparkmoe");
        assertTrue(Files.isDirectory(root), "compiled classes missing: " + root.toAbsolutePath());
        List<String> offenders = new ArrayList<>();
        int checked = 0;
        for (Map.Entry<String, Set<String>> layer : MAY_USE.entrySet()) {
            Path dir = root.resolve(layer.getKey());
            assertTrue(Files.isDirectory(dir), "no layer " + layer.getKey());
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path p : (Iterable<Path>) paths.filter(f -> f.toString().endsWith(".class"))::iterator) {
                    checked++;
                    String text = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
                    for (String other : MAY_USE.keySet()) {
                        if (other.equals(layer.getKey()) || layer.getValue().contains(other)) continue;
                        if (text.contains("org/sparkmoe/" + other + "/")) {
                            offenders.add(layer.getKey() + " -> " + other + ": " + root.relativize(p));
                        }
                    }
                }
            }
        }
        assertTrue(checked > 100, "classes checked: " + checked);
        assertTrue(offenders.isEmpty(), "uses against the layer map:\n" + String.join("\n", offenders));
    }

    @Test
    void everyClassIsInALayer() throws IOException {
        try (Stream<Path> top = Files.list(Paths.get("target/classes/org/sparkmoe"))) {
            List<String> outside = top.map(p -> p.getFileName().toString()).filter(n -> !MAY_USE.containsKey(n)).toList();
            assertTrue(outside.isEmpty(), "packages outside the layer map: " + outside);
        }
    }
}
