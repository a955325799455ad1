package org.sparkmoe.architecture;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/** Every package and class the README's "Where things are" table names exists in the tree. */
class ReadmeMapTest {
    @Test
    void everyNameInTheMapIsInTheTree() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        int from = readme.indexOf("## Where things are");
        int to = readme.indexOf("\n## ", from + 1);
        assertTrue(from >= 0, "README has no 'Where things are' section");
        String map = readme.substring(from, to < 0 ? readme.length() : to);
        List<String> sources;
        try (Stream<Path> s = Stream.concat(Files.walk(Path.of("src/main/java")), Files.walk(Path.of("src/test/java")))) {
            sources = s.map(p -> p.toString().replace('\\', '/')).toList();
        }
        List<String> missing = new ArrayList<>();
        int checked = 0;
        Matcher m = Pattern.compile("`([A-Za-z][A-Za-z0-9.]*)`").matcher(map);
        while (m.find()) {
            String name = m.group(1);
            String[] parts = name.split("\\.");
            // a method reference (Class.method): check the class
            int end = parts.length;
            if (end > 1 && Character.isLowerCase(parts[end - 1].charAt(0)) && Character.isUpperCase(parts[end - 2].charAt(0))) end--;
            String path = String.join("/", java.util.Arrays.copyOf(parts, end));
            boolean isClass = Character.isUpperCase(parts[end - 1].charAt(0));
            String suffix = "/" + path + (isClass ? ".java" : "");
            boolean found = sources.stream().anyMatch(f -> f.endsWith(suffix));
            if (!found && name.contains("sparkmoe") || !found && isClass) missing.add(name);
            checked++;
        }
        assertTrue(checked > 30, "names checked: " + checked);
        assertTrue(missing.isEmpty(), "the README's map names what is not in the source tree: " + missing);
    }
}
