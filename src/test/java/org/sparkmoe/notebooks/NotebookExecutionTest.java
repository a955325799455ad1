package org.sparkmoe.notebooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sparkmoe.engine.SparkTestContext;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import scala.tools.nsc.Settings;
import scala.tools.nsc.interpreter.IMain;
import scala.tools.nsc.interpreter.Results;
import scala.tools.nsc.interpreter.shell.ReplReporterImpl;

/**
 * The notebooks are runnable, not decorative: every {@code notebooks/*.zpln} is parsed, its
 * {@code %spark} paragraphs (not {@code %spark.conf}, {@code %md}, {@code %sh}, ...) are executed in
 * order in a Scala 2.13 interpreter on the test classpath, with {@code spark} and {@code sc} bound
 * as Zeppelin binds them (on the tests' shared SparkContext, so with Kryo registration required),
 * and any compile or runtime error fails the test with the notebook, the paragraph and the
 * interpreter's message.
 *
 * <p>Scale: each notebook has one line {@code val scale = ...} in its first {@code %spark}
 * paragraph (the user's knob); the test replaces it with {@link #TEST_SCALE} so that all notebooks
 * run in seconds, and {@code val outRoot = ...} with a temporary directory.
 */
public class NotebookExecutionTest {
    static final String TEST_SCALE = System.getProperty("notebooks.scale", "0.04");
    static final Pattern SCALE = Pattern.compile("(?m)^val scale = .*$");
    static final Pattern OUT_ROOT = Pattern.compile("(?m)^val outRoot = .*$");
    static final Path NOTEBOOKS = Paths.get("notebooks");

    /** The bindings the interpreter reads (Zeppelin's {@code spark} and {@code sc}). */
    public static SparkSession spark;

    static Path tmp;

    @BeforeAll
    static void start() throws IOException {
        System.setProperty("java.awt.headless", "true");
        spark = SparkSession.builder().sparkContext(SparkTestContext.get().sc()).getOrCreate();
        tmp = Files.createTempDirectory("spark-moe-notebooks");
    }

    @AfterAll
    static void end() throws IOException {
        spark = null;
        if (tmp != null) {
            try (Stream<Path> s = Files.walk(tmp)) {
                s.sorted((a, b) -> b.compareTo(a)).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    record Paragraph(int index, String interpreter, String code) {
    }

    /** The paragraphs of a .zpln: the interpreter directive (%spark, %md, ...; "" if none) and the code after it. */
    static List<Paragraph> paragraphs(Path zpln) throws IOException {
        JsonNode root = new ObjectMapper().readTree(zpln.toFile());
        assertTrue(root.has("name") && root.has("id") && root.get("paragraphs").isArray(), zpln + ": not a Zeppelin note");
        List<Paragraph> out = new ArrayList<>();
        int i = 0;
        for (JsonNode p : root.get("paragraphs")) {
            String text = p.path("text").asText("");
            String trimmed = text.stripLeading();
            String interp = "";
            String code = text;
            if (trimmed.startsWith("%")) {
                int end = 0;
                while (end < trimmed.length() && !Character.isWhitespace(trimmed.charAt(end))) end++;
                interp = trimmed.substring(0, end);
                code = trimmed.substring(end);
            }
            out.add(new Paragraph(i++, interp, code));
        }
        return out;
    }

    static List<Path> notebooks() throws IOException {
        try (Stream<Path> s = Files.list(NOTEBOOKS)) {
            return s.filter(p -> p.toString().endsWith(".zpln")).sorted().toList();
        }
    }

    @TestFactory
    Stream<DynamicTest> everyNotebookRuns() throws IOException {
        List<Path> books = notebooks();
        assertTrue(books.size() >= 3, "expected the three notebooks in " + NOTEBOOKS.toAbsolutePath() + ", found " + books);
        return books.stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> run(p)));
    }

    static void run(Path zpln) throws IOException {
        long start = System.nanoTime();
        String name = zpln.getFileName().toString();
        List<Paragraph> ps = paragraphs(zpln);
        assertFalse(ps.isEmpty(), name + ": no paragraphs");
        assertEquals("%spark.conf", ps.get(0).interpreter(), name + ": the first paragraph must be %spark.conf (loads the jar)");
        assertTrue(ps.get(0).code().contains("spark.jars"), name + ": the %spark.conf paragraph must set spark.jars");
        List<Paragraph> spark = ps.stream().filter(p -> p.interpreter().equals("%spark") || p.interpreter().equals("%spark.spark")).toList();
        assertFalse(spark.isEmpty(), name + ": no %spark paragraphs");
        String first = spark.get(0).code();
        assertEquals(1, count(SCALE, first), name + ": the first %spark paragraph must have one line 'val scale = ...'");
        assertEquals(1, count(OUT_ROOT, first), name + ": the first %spark paragraph must have one line 'val outRoot = ...'");
        Path out = Files.createTempDirectory(tmp, name.replace(".zpln", ""));

        StringWriter buffer = new StringWriter();
        Settings settings = new Settings();
        settings.processArgumentString("-usejavacp -nowarn -YdisableFlatCpCaching");
        String cp = System.getProperty("surefire.test.class.path");
        if (cp != null && !cp.isEmpty()) settings.classpath().value_$eq(cp); // surefire's java.class.path is a manifest-only jar
        IMain repl = new IMain(settings, new ReplReporterImpl(settings, new PrintWriter(buffer, true)));
        try {
            // what Zeppelin's Spark interpreter binds and imports
            String prelude = String.join("\n",
                    "val spark = org.sparkmoe.notebooks.NotebookExecutionTest.spark",
                    "val sc = spark.sparkContext",
                    "val sqlContext = spark.sqlContext",
                    "import spark.implicits._",
                    "import spark.sql",
                    "import org.apache.spark.sql.functions._");
            check(repl, buffer, name, "prelude", prelude);
            for (Paragraph p : spark) {
                String code = p.code();
                if (p == spark.get(0)) {
                    code = SCALE.matcher(code).replaceFirst(Matcher.quoteReplacement("val scale = " + TEST_SCALE + " // NotebookExecutionTest"));
                    code = OUT_ROOT.matcher(code).replaceFirst(Matcher.quoteReplacement("val outRoot = \"" + out.toString().replace("\\", "/") + "\""));
                }
                long t0 = System.nanoTime();
                check(repl, buffer, name, "paragraph " + p.index(), code);
                System.out.printf("%s paragraph %d: %.1f s%n", name, p.index(), (System.nanoTime() - t0) / 1e9);
            }
        } finally {
            repl.close();
        }
        System.out.printf("%s: %.1f s%n", name, (System.nanoTime() - start) / 1e9);
    }

    static void check(IMain repl, StringWriter buffer, String name, String where, String code) {
        buffer.getBuffer().setLength(0);
        Results.Result r = repl.interpret(code);
        String output = buffer.toString();
        System.out.print(output);
        if (!"Success".equals(String.valueOf(r))) {
            fail(name + ", " + where + ": " + r + "\n" + output + "\n--- code ---\n" + code);
        }
    }

    static int count(Pattern p, String s) {
        Matcher m = p.matcher(s);
        int n = 0;
        while (m.find()) n++;
        return n;
    }
}
