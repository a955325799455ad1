package org.sparkmoe.notebooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sparkmoe.engine.SparkTestContext;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

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
 *
 * <p>System properties (all optional):
 * <ul>
 *   <li>{@code notebooks.scale=X}: run at scale X instead of the tiny default;</li>
 *   <li>{@code notebooks.only=a,b}: run only these notebooks (file names without {@code .zpln});</li>
 *   <li>{@code notebooks.outRoot=DIR}: keep the runs' outputs under {@code DIR/<notebook>} instead of in a
 *       temporary directory;</li>
 *   <li>{@code notebooks.record=true}: run each notebook <em>as written</em> (its own {@code val scale}
 *       and {@code val outRoot}; {@code notebooks.scale} is refused) and write what every paragraph
 *       printed back into the {@code .zpln} as Zeppelin paragraph results ({@code %table} output as
 *       TABLE, {@code %html} as HTML, other printed text as TEXT; {@code %md} rendered to HTML), with a
 *       line in the notebook's first {@code %md} paragraph saying at what scale, when and on what
 *       machine the results were produced and how long the run took ({@code notebooks.recordNote=...}
 *       is appended to that line). Only this mode writes to the notebooks.</li>
 * </ul>
 */
public class NotebookExecutionTest {
    static final String SCALE_PROPERTY = System.getProperty("notebooks.scale");
    static final String TEST_SCALE = SCALE_PROPERTY == null ? "0.04" : SCALE_PROPERTY;
    static final boolean RECORD = Boolean.getBoolean("notebooks.record");
    static final String ONLY = System.getProperty("notebooks.only", "").trim();
    static final String KEEP_OUT = System.getProperty("notebooks.outRoot");
    static final String RECORD_NOTE = System.getProperty("notebooks.recordNote", "").trim();
    static final Pattern SCALE = Pattern.compile("(?m)^val scale = .*$");
    static final Pattern OUT_ROOT = Pattern.compile("(?m)^val outRoot = .*$");
    static final Path NOTEBOOKS = Paths.get("notebooks");
    /** The start of the line of the first %md paragraph that record mode writes (and replaces when it records again). */
    static final String RECORDED_MARKER = "> **Results shown:**";
    /** An %html output larger than this is not stored in the notebook (keeps a .zpln well under 1 MB). */
    static final int MAX_HTML_CHARS = 200_000;

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
        return paragraphs(zpln, new ObjectMapper().readTree(zpln.toFile()));
    }

    static List<Paragraph> paragraphs(Path zpln, JsonNode root) {
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
        if (!ONLY.isEmpty()) {
            Set<String> wanted = Arrays.stream(ONLY.split(",")).map(String::trim).map(s -> s.replace(".zpln", ""))
                    .collect(Collectors.toSet());
            books = books.stream().filter(p -> wanted.contains(p.getFileName().toString().replace(".zpln", ""))).toList();
            assertEquals(wanted.size(), books.size(), "-Dnotebooks.only=" + ONLY + " names a notebook that is not in " + NOTEBOOKS);
        }
        if (RECORD && SCALE_PROPERTY != null) {
            fail("-Dnotebooks.record=true runs every notebook at its own 'val scale = ...' (so that the recorded results "
                    + "belong to the notebook as shipped); edit that line instead of passing -Dnotebooks.scale");
        }
        return books.stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> run(p)));
    }

    static void run(Path zpln) throws IOException {
        long start = System.nanoTime();
        String name = zpln.getFileName().toString();
        JsonNode root = new ObjectMapper().readTree(zpln.toFile());
        List<Paragraph> ps = paragraphs(zpln, root);
        assertFalse(ps.isEmpty(), name + ": no paragraphs");
        assertEquals("%spark.conf", ps.get(0).interpreter(), name + ": the first paragraph must be %spark.conf (loads the jar)");
        assertTrue(ps.get(0).code().matches("(?s).*\\bspark\\.jars\\.packages\\s+" + Pattern.quote(ProjectCoordinates.read()) + "\\s.*"),
                name + ": the %spark.conf paragraph must load " + ProjectCoordinates.read() + " (pom.xml) with spark.jars.packages");
        List<Paragraph> spark = ps.stream().filter(p -> p.interpreter().equals("%spark") || p.interpreter().equals("%spark.spark")).toList();
        assertFalse(spark.isEmpty(), name + ": no %spark paragraphs");
        String first = spark.get(0).code();
        assertEquals(1, count(SCALE, first), name + ": the first %spark paragraph must have one line 'val scale = ...'");
        assertEquals(1, count(OUT_ROOT, first), name + ": the first %spark paragraph must have one line 'val outRoot = ...'");
        String base = name.replace(".zpln", "");
        Path out = KEEP_OUT != null ? Files.createDirectories(Paths.get(KEEP_OUT, base)) : Files.createTempDirectory(tmp, base);
        List<Recorded> recorded = new ArrayList<>();

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
                    "import org.apache.spark.sql.functions._",
                    // Zeppelin's ZeppelinContext, as far as the notebooks use it (see ZeppelinStandIn)
                    "val z = new org.sparkmoe.notebooks.NotebookExecutionTest.ZeppelinStandIn()");
            check(repl, buffer, name, "prelude", prelude);
            for (Paragraph p : spark) {
                String code = p.code();
                if (p == spark.get(0) && !RECORD) {
                    code = SCALE.matcher(code).replaceFirst(Matcher.quoteReplacement(
                            "val scale = " + Double.parseDouble(TEST_SCALE) + " // NotebookExecutionTest"));
                    code = OUT_ROOT.matcher(code).replaceFirst(Matcher.quoteReplacement("val outRoot = \"" + out.toString().replace("\\", "/") + "\""));
                }
                LocalDateTime started = LocalDateTime.now();
                long t0 = System.nanoTime();
                String printed = check(repl, buffer, name, "paragraph " + p.index(), code);
                System.out.printf("%s paragraph %d: %.1f s%n", name, p.index(), (System.nanoTime() - t0) / 1e9);
                recorded.add(new Recorded(p.index(), started, LocalDateTime.now(), printed));
            }
        } finally {
            repl.close();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("%s: %.1f s%n", name, seconds);
        if (RECORD) {
            record(zpln, (ObjectNode) root, ps, recorded, first, seconds);
        }
    }

    /**
     * The part of Zeppelin's {@code z} (ZeppelinContext) the notebooks use, for running them outside
     * Zeppelin: {@code textbox} returns the form's default (Zeppelin returns the value typed into the
     * box, the default until then) and {@code show} prints a DataFrame the way Zeppelin's Spark
     * interpreter does ({@code %table}, tab-separated, at most {@link #MAX_RESULT} rows; Zeppelin then
     * draws the table or the chart stored in the paragraph's config).
     */
    public static final class ZeppelinStandIn {
        /** Zeppelin's default {@code zeppelin.spark.maxResult}. */
        static final int MAX_RESULT = 1000;

        public Object textbox(String name, String defaultValue) {
            return defaultValue;
        }

        public void show(org.apache.spark.sql.Dataset<?> dataset) {
            org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> df = dataset.toDF();
            List<org.apache.spark.sql.Row> rows = df.limit(MAX_RESULT + 1).collectAsList();
            StringBuilder msg = new StringBuilder("\n%table ");
            msg.append(Arrays.stream(df.columns()).map(ZeppelinStandIn::cell).collect(Collectors.joining("\t"))).append('\n');
            for (org.apache.spark.sql.Row r : rows.subList(0, Math.min(rows.size(), MAX_RESULT))) {
                List<String> cells = new ArrayList<>();
                for (int i = 0; i < r.size(); i++) cells.add(cell(r.isNullAt(i) ? "null" : String.valueOf(r.get(i))));
                msg.append(String.join("\t", cells)).append('\n');
            }
            if (rows.size() > MAX_RESULT) msg.append("\n%html <font color=red>Results are limited by ").append(MAX_RESULT).append(".</font>");
            msg.append("\n%text ");
            scala.Console$.MODULE$.print(msg.toString());
        }

        static String cell(String s) {
            return s.replace('\t', ' ').replace('\n', ' ');
        }
    }

    /** What one %spark paragraph printed while it ran. */
    record Recorded(int index, LocalDateTime started, LocalDateTime finished, String printed) {
    }

    /**
     * Runs one paragraph in the interpreter and returns what it printed (to Console.out, where the
     * notebooks' println and the job's progress go; also echoed to this JVM's stdout); fails the
     * test on a compile or runtime error.
     */
    static String check(IMain repl, StringWriter buffer, String name, String where, String code) {
        buffer.getBuffer().setLength(0);
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream tee = new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                printed.write(b);
                System.out.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                printed.write(b, off, len);
                System.out.write(b, off, len);
            }

            @Override
            public void flush() {
                System.out.flush();
            }
        }, true, StandardCharsets.UTF_8);
        Results.Result r = scala.Console$.MODULE$.withOut(tee, () -> repl.interpret(code));
        tee.flush();
        String output = buffer.toString();
        System.out.print(output);
        if (!"Success".equals(String.valueOf(r))) {
            fail(name + ", " + where + ": " + r + "\n" + output + "\n--- code ---\n" + code);
        }
        return printed.toString(StandardCharsets.UTF_8);
    }

    static int count(Pattern p, String s) {
        Matcher m = p.matcher(s);
        int n = 0;
        while (m.find()) n++;
        return n;
    }

    // ------------------------------------------------------------------------------------ record mode

    static final DateTimeFormatter ZEPPELIN_DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS", Locale.ROOT);
    static final Pattern DIRECTIVE = Pattern.compile("^%(table|html|text)(?:\\s|$)");

    /**
     * Writes a run's outputs into the note the way Zeppelin 0.11 stores them: each paragraph's
     * {@code results} = {code: SUCCESS, msg: [{type: TEXT | TABLE | HTML, data}]}, status FINISHED and
     * its start and finish dates; %md paragraphs get their rendered HTML, and the first %md paragraph
     * a line saying how the results were produced.
     */
    static void record(Path zpln, ObjectNode root, List<Paragraph> ps, List<Recorded> recorded, String firstSpark,
                       double seconds) throws IOException {
        Matcher scale = SCALE.matcher(firstSpark);
        assertTrue(scale.find());
        String scaleValue = scale.group().replaceFirst("^val scale = ", "").replaceFirst("\\s*//.*$", "").trim();
        String when = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd", Locale.ROOT));
        String provenance = RECORDED_MARKER + " a full run of this notebook as shipped (`scale = " + scaleValue + "`), recorded on "
                + when + " by `NotebookExecutionTest` (`-Dnotebooks.record=true`) on Spark `" + spark.sparkContext().master()
                + "`, " + machine() + String.format(Locale.ROOT, "; wall time %.1f min.", seconds / 60)
                + (RECORD_NOTE.isEmpty() ? "" : " " + RECORD_NOTE);

        ArrayNode paragraphs = (ArrayNode) root.get("paragraphs");
        boolean provenanceWritten = false;
        LocalDateTime now = LocalDateTime.now();
        for (Paragraph p : ps) {
            ObjectNode node = (ObjectNode) paragraphs.get(p.index());
            if (p.interpreter().equals("%md")) {
                String md = p.code().strip();
                if (!provenanceWritten) {
                    md = withProvenance(md, provenance);
                    node.put("text", "%md\n" + md);
                    provenanceWritten = true;
                }
                setResults(node, List.of(message("HTML", "<div class=\"markdown-body\">\n" + markdown(md) + "</div>")), now, now);
            } else if (p.interpreter().equals("%spark.conf")) {
                setResults(node, List.of(), now, now);
            }
        }
        for (Recorded r : recorded) {
            setResults((ObjectNode) paragraphs.get(r.index()), messages(r.printed()), r.started(), r.finished());
        }
        assertTrue(provenanceWritten, zpln + ": record mode needs a %md paragraph for the line saying how the results were produced");
        DefaultPrettyPrinter pretty = new DefaultPrettyPrinter(Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                .withObjectEmptySeparator("").withArrayEmptySeparator(""))
                .withArrayIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"))
                .withObjectIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"));
        String json = new ObjectMapper().writer(pretty).writeValueAsString(root) + "\n";
        Files.writeString(zpln, json, StandardCharsets.UTF_8);
        System.out.printf("recorded the results into %s (%.0f KB)%n", zpln.toAbsolutePath(), json.length() / 1024.0);
    }

    static String withProvenance(String md, String provenance) {
        List<String> lines = new ArrayList<>(Arrays.asList(md.split("\n", -1)));
        int at = -1;
        for (int i = 0; i < lines.size(); i++) if (lines.get(i).startsWith(RECORDED_MARKER)) at = i;
        if (at >= 0) {
            lines.set(at, provenance);
        } else {
            lines.add("");
            lines.add(provenance);
        }
        return String.join("\n", lines);
    }

    /** The machine, in words: CPU model, cores, memory, OS, Java. */
    static String machine() {
        String cpu = "";
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim().replaceAll("\\s+", " ") + ", ";
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no CPU model
        }
        long bytes = 0;
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            bytes = os.getTotalMemorySize();
        }
        return String.format(Locale.ROOT, "%s%d cores, %.0f GiB memory, %s, Java %s", cpu,
                Runtime.getRuntime().availableProcessors(), bytes / (1024.0 * 1024 * 1024),
                System.getProperty("os.name"), System.getProperty("java.version"));
    }

    static void setResults(ObjectNode paragraph, List<ObjectNode> msgs, LocalDateTime started, LocalDateTime finished) {
        ObjectNode results = paragraph.objectNode();
        results.put("code", "SUCCESS");
        ArrayNode msg = results.putArray("msg");
        msgs.forEach(msg::add);
        paragraph.set("results", results);
        paragraph.put("dateStarted", started.format(ZEPPELIN_DATE));
        paragraph.put("dateFinished", finished.format(ZEPPELIN_DATE));
        paragraph.remove("status"); // last, as Zeppelin writes it
        paragraph.put("status", "FINISHED");
    }

    static ObjectNode message(String type, String data) {
        ObjectNode m = new ObjectMapper().createObjectNode();
        m.put("type", type);
        m.put("data", data);
        return m;
    }

    /**
     * Splits printed output into Zeppelin result messages the way its interpreter output does: a
     * line starting with {@code %table}, {@code %html} or {@code %text} starts a message of that
     * type; anything before the first one is TEXT. Blank messages are dropped; an %html message
     * over {@link #MAX_HTML_CHARS} (a large embedded image) is replaced by a TEXT note.
     */
    static List<ObjectNode> messages(String printed) {
        List<ObjectNode> out = new ArrayList<>();
        String type = "TEXT";
        StringBuilder data = new StringBuilder();
        for (String line : printed.replace("\r\n", "\n").split("\n", -1)) {
            Matcher m = DIRECTIVE.matcher(line);
            if (m.find()) {
                flush(out, type, data);
                type = m.group(1).toUpperCase(Locale.ROOT);
                data.setLength(0);
                data.append(line.substring(m.end())).append('\n');
            } else {
                data.append(line).append('\n');
            }
        }
        flush(out, type, data);
        return out;
    }

    static void flush(List<ObjectNode> out, String type, StringBuilder data) {
        String d = data.toString().replaceAll("\\s+$", "");
        if (d.isEmpty()) return;
        if (type.equals("HTML") && d.length() > MAX_HTML_CHARS) {
            out.add(message("TEXT", String.format(Locale.ROOT,
                    "(an HTML output of %d KB, probably an image, is not stored in the notebook; run the paragraph to see it)",
                    d.length() / 1024)));
            return;
        }
        out.add(message(type, d + "\n"));
    }

    /**
     * The part of Markdown the notebooks' %md paragraphs use, as HTML: # headings, paragraphs,
     * "- " lists, "> " quotes, **bold**, *emphasis*, `code`. (Zeppelin renders %md itself when the
     * paragraph runs; this is the stored result an imported note shows until then.)
     */
    static String markdown(String md) {
        StringBuilder html = new StringBuilder();
        List<String> block = new ArrayList<>();
        for (String line : (md + "\n\n").split("\n", -1)) {
            if (line.isBlank()) {
                if (!block.isEmpty()) html.append(markdownBlock(block));
                block.clear();
            } else if (line.startsWith("#")) {
                if (!block.isEmpty()) html.append(markdownBlock(block));
                block.clear();
                int level = 0;
                while (level < line.length() && line.charAt(level) == '#') level++;
                html.append("<h").append(level).append('>').append(inline(line.substring(level).trim()))
                        .append("</h").append(level).append(">\n");
            } else {
                block.add(line);
            }
        }
        return html.toString();
    }

    static String markdownBlock(List<String> lines) {
        if (lines.stream().allMatch(l -> l.startsWith(">"))) {
            return "<blockquote>\n" + markdownBlock(lines.stream().map(l -> l.replaceFirst("^>\\s?", "")).toList()) + "</blockquote>\n";
        }
        if (lines.get(0).startsWith("- ")) {
            StringBuilder html = new StringBuilder("<ul>\n");
            List<String> item = new ArrayList<>();
            for (String l : lines) {
                if (l.startsWith("- ") && !item.isEmpty()) {
                    html.append("<li>").append(inline(String.join("\n", item))).append("</li>\n");
                    item.clear();
                }
                item.add(l.startsWith("- ") ? l.substring(2) : l.trim());
            }
            html.append("<li>").append(inline(String.join("\n", item))).append("</li>\n");
            return html.append("</ul>\n").toString();
        }
        return "<p>" + inline(String.join("\n", lines)) + "</p>\n";
    }

    static String inline(String text) {
        StringBuilder out = new StringBuilder();
        String[] parts = text.split("`", -1); // odd parts are code spans
        for (int i = 0; i < parts.length; i++) {
            String esc = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
            if (i % 2 == 1 && i < parts.length - 1) {
                out.append("<code>").append(esc).append("</code>");
            } else {
                if (i % 2 == 1) out.append('`');
                out.append(esc.replaceAll("\\*\\*(\\S(?:.*?\\S)?)\\*\\*", "<strong>$1</strong>")
                        .replaceAll("(?<![\\w*])\\*(\\S(?:.*?\\S)?)\\*(?![\\w*])", "<em>$1</em>"));
            }
        }
        return out.toString();
    }
}
