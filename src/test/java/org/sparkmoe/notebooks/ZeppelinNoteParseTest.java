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
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every notebooks/*.zpln is read by Zeppelin's own note parser ({@code org.apache.zeppelin.notebook.Note.fromJson}
 * of zeppelin-zengine 0.10.0), as <i>Import note</i> does, and comes back with its name and every paragraph's
 * text and interpreter intact.
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
    }

    static Object call(Object target, String method) throws ReflectiveOperationException {
        return target.getClass().getMethod(method).invoke(target);
    }
}
