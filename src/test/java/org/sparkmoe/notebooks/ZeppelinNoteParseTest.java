package org.sparkmoe.notebooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every notebooks/*.zpln is read by Zeppelin's own note parser ({@code org.apache.zeppelin.notebook.Note.fromJson}
 * of zeppelin-zengine 0.10.0), as <i>Import note</i> does, and comes back with its name and every paragraph's
 * text and interpreter intact, and can run on a Zeppelin as it is ({@link #runsAsItIs}).
 * <p>
 * Zeppelin and its dependencies (its own Jackson, Gson, Hadoop, Scala 2.12 interpreter classes) must not
 * reach the other tests' classpath, so this test runs in a surefire execution of its own
 * ({@code zeppelin-notes} in pom.xml) whose classpath is zengine's, resolved by surefire
 * ({@code additionalClasspathDependencies}), instead of the project's. The zengine classes are therefore
 * used through reflection; in the default execution (which only runs it when named with -Dtest) it is
 * skipped, since zengine is not there.
 */
class ZeppelinNoteParseTest {
    static final String NOTE = "org.apache.zeppelin.notebook.Note";

    @TestFactory
    Stream<DynamicTest> everyNotebookParsesWithZeppelinsNoteParser() throws Exception {
        Class<?> noteClass;
        try {
            noteClass = Class.forName(NOTE);
        } catch (ClassNotFoundException e) {
            Assumptions.abort("zeppelin-zengine is only on the classpath of the zeppelin-notes surefire execution");
            return Stream.empty();
        }
        Method fromJson = noteClass.getMethod("fromJson", String.class, String.class);
        List<Path> notes;
        try (Stream<Path> s = Files.list(Paths.get("notebooks"))) {
            notes = s.filter(p -> p.toString().endsWith(".zpln")).sorted().toList();
        }
        assertTrue(notes.size() >= 3, "expected the notebooks in notebooks/, found " + notes);
        return notes.stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> parse(fromJson, p)));
    }

    static void parse(Method fromJson, Path zpln) throws Exception {
        String json = Files.readString(zpln, StandardCharsets.UTF_8);
        // the file as plain JSON, to compare Zeppelin's reading with
        com.google.gson.JsonObject raw = new com.google.gson.Gson().fromJson(json, com.google.gson.JsonObject.class);
        String id = raw.get("id").getAsString();
        Object note;
        try {
            note = fromJson.invoke(null, id, json);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw new AssertionError(zpln + ": Zeppelin's note parser rejects it: " + e.getCause(), e.getCause());
        }
        assertNotNull(note, zpln + ": Zeppelin returned no note");
        assertEquals(raw.get("name").getAsString(), call(note, "getName"), zpln + ": name");
        assertEquals(id, call(note, "getId"), zpln + ": id");
        List<?> paragraphs = (List<?>) call(note, "getParagraphs");
        assertEquals(raw.getAsJsonArray("paragraphs").size(), paragraphs.size(), zpln + ": paragraphs");
        assertFalse(paragraphs.isEmpty(), zpln + ": no paragraphs");
        for (int i = 0; i < paragraphs.size(); i++) {
            Object p = paragraphs.get(i);
            String text = (String) call(p, "getText");
            assertEquals(raw.getAsJsonArray("paragraphs").get(i).getAsJsonObject().get("text").getAsString(), text,
                    zpln + ": paragraph " + i + " text");
            // Zeppelin's own split of "%spark.conf\n..." into interpreter and script
            String intp = (String) call(p, "getIntpText");
            String script = (String) call(p, "getScriptText");
            assertNotNull(script, zpln + ": paragraph " + i + " has no script");
            if (text.stripLeading().startsWith("%")) {
                assertTrue(text.stripLeading().startsWith("%" + intp), zpln + ": paragraph " + i + " interpreter '" + intp + "'");
            }
        }
        assertEquals("spark.conf", call(paragraphs.get(0), "getIntpText"), zpln + ": the first paragraph must be %spark.conf");
        runsAsItIs(zpln, raw, paragraphs);
    }

    /** Zeppelin's built-in chart types (its table display's visualizations). */
    static final Set<String> CHARTS = Set.of("table", "lineChart", "multiBarChart", "stackedAreaChart", "pieChart", "scatterChart");

    /**
     * What a note needs to run on a Zeppelin as it is: spark-moe loaded by its Maven coordinates (the ones
     * pom.xml builds; nothing to edit, no {@code /path/to} placeholder), outputs under the directory of a
     * note form ({@code z.textbox("outRoot", ...)}, no hard-coded {@code /tmp}), tables through
     * {@code z.show} and charts as Zeppelin's own (no hand-written {@code %table} text, no embedded
     * images), each chart stored in the paragraph's config the way Zeppelin reads it back.
     */
    static void runsAsItIs(Path zpln, com.google.gson.JsonObject raw, List<?> paragraphs) throws Exception {
        String conf = raw.getAsJsonArray("paragraphs").get(0).getAsJsonObject().get("text").getAsString();
        String coordinates = ProjectCoordinates.read();
        assertTrue(conf.matches("(?s).*\\nspark\\.jars\\.packages\\s+" + Pattern.quote(coordinates) + "\\s.*"),
                zpln + ": %spark.conf must load " + coordinates + " (pom.xml's coordinates) with spark.jars.packages");
        assertFalse(conf.matches("(?s).*\\nspark\\.jars\\s.*"), zpln + ": %spark.conf sets a jar path (spark.jars)");
        int shows = 0;
        boolean outRootForm = false;
        for (int i = 0; i < paragraphs.size(); i++) {
            String text = (String) call(paragraphs.get(i), "getText");
            String where = zpln + ": paragraph " + i;
            for (String banned : List.of("/tmp", "/path/to")) {
                assertFalse(text.contains(banned), where + " names '" + banned + "' (outputs go under the outRoot form's directory)");
            }
            if (!"spark".equals(call(paragraphs.get(i), "getIntpText"))) continue;
            for (String banned : List.of("%table", "%html", "<img", "base64", "data:image", ".png")) {
                assertFalse(text.contains(banned), where + " writes '" + banned + "': show tables and charts with z.show");
            }
            if (text.contains("z.show(")) shows++;
            if (text.matches("(?s).*\\nval outRoot = z\\.textbox\\(\"outRoot\", .*")) outRootForm = true;
            Map<?, ?> charts = (Map<?, ?>) ((Map<?, ?>) call(paragraphs.get(i), "getConfig")).get("results");
            if (charts == null) continue;
            com.google.gson.JsonObject stored = raw.getAsJsonArray("paragraphs").get(i).getAsJsonObject().getAsJsonObject("results");
            for (Map.Entry<?, ?> chart : charts.entrySet()) {
                Map<?, ?> graph = (Map<?, ?>) ((Map<?, ?>) chart.getValue()).get("graph");
                if (graph == null) continue;
                assertTrue(CHARTS.contains(String.valueOf(graph.get("mode"))), where + ": chart mode " + graph.get("mode"));
                assertTrue(text.contains("z.show("), where + " has a chart but shows no DataFrame");
                // the columns it plots are those of the table the paragraph showed (its stored result)
                com.google.gson.JsonArray msgs = stored == null ? null : stored.getAsJsonArray("msg");
                int index = Integer.parseInt(String.valueOf(chart.getKey()));
                List<String> header = null;
                if (msgs != null && index < msgs.size() && "TABLE".equals(msgs.get(index).getAsJsonObject().get("type").getAsString())) {
                    header = List.of(msgs.get(index).getAsJsonObject().get("data").getAsString().split("\n", 2)[0].split("\t"));
                }
                for (String axis : List.of("keys", "values")) {
                    List<?> columns = (List<?>) graph.get(axis);
                    assertFalse(columns == null || columns.isEmpty(), where + ": chart without " + axis);
                    for (Object c : columns) {
                        String name = String.valueOf(((Map<?, ?>) c).get("name"));
                        if (header != null) assertTrue(header.contains(name), where + ": the chart plots '" + name + "', not a column of " + header);
                    }
                }
            }
        }
        assertTrue(shows > 0, zpln + ": no z.show");
        assertTrue(outRootForm, zpln + ": the first %spark paragraph must take outRoot from a note form: val outRoot = z.textbox(\"outRoot\", ...)");
    }

    static Object call(Object target, String method) throws ReflectiveOperationException {
        return target.getClass().getMethod(method).invoke(target);
    }
}
