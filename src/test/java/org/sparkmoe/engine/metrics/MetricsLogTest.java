package org.sparkmoe.engine.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsLogTest {
    @TempDir
    Path tmp;

    static StepMetrics metrics(long step, double taskLoss, double tps) {
        return new StepMetrics(step, 1024, taskLoss, 0.01, 0.02, 0.3, 0.4, 1.7, 12, 300, tps,
                StepMetrics.timings(1.5, 2.5, 30.0, 3.25, 4.0, 0.5));
    }

    @Test
    void writesValidJsonLinesThatParseBack() throws IOException {
        Path file = tmp.resolve("logs/metrics.jsonl");
        String uri = file.toUri().toString();
        List<StepMetrics> written = List.of(metrics(1, 2.5, 1e5), metrics(2, Double.NaN, Double.POSITIVE_INFINITY), metrics(3, 1e-30, 123.0));
        try (MetricsLog log = new MetricsLog(uri, new Configuration())) {
            for (StepMetrics m : written) log.append(m);
            // flushed per line: visible before close
            assertEquals(3, Files.readAllLines(file).size());
        }
        ObjectMapper strict = new ObjectMapper(); // rejects NaN/Infinity tokens by default
        List<String> lines = Files.readAllLines(file);
        for (String line : lines) {
            JsonNode n = strict.readTree(line);
            assertEquals(6, n.get("timingsMs").size());
        }
        assertTrue(lines.get(1).contains("\"taskLoss\":null") && lines.get(1).contains("\"tokensPerSecond\":null"), lines.get(1));

        List<StepMetrics> back = MetricsLog.read(uri, new Configuration());
        assertEquals(written.get(0), back.get(0));
        assertEquals(written.get(2), back.get(2));
        assertTrue(Double.isNaN(back.get(1).taskLoss()));
        assertTrue(Double.isNaN(back.get(1).tokensPerSecond()), "Infinity reads back as NaN (null in JSON)");
        assertEquals(30.0, back.get(1).timingsMs().get(StepMetrics.EXPERTS));
        assertEquals(List.of("gate", "dispatch", "experts", "combine", "aggregate", "optimiser"), List.copyOf(back.get(0).timingsMs().keySet()));
    }

    @Test
    void appendsAfterACrashLeavesWholeLines() throws IOException {
        Path file = tmp.resolve("metrics.jsonl");
        try (MetricsLog log = new MetricsLog(file)) {
            log.append(metrics(1, 1.0, 1.0));
            log.append(metrics(2, 1.0, 1.0));
        }
        // a crash in the middle of a line
        Files.writeString(file, "{\"step\":3,\"exam", StandardOpenOption.APPEND);
        try (MetricsLog log = new MetricsLog(file)) {
            log.append(metrics(4, 0.5, 2.0));
        }
        List<StepMetrics> back = MetricsLog.read(file.toUri().toString(), new Configuration());
        assertEquals(List.of(1L, 2L, 4L), back.stream().map(StepMetrics::step).toList());
        assertEquals(metrics(4, 0.5, 2.0), back.get(2));
    }

    /** Issue 11 case 6: killed at step 5 after the checkpoint of step 3, resumed from step 3. */
    @Test
    void aResumedRunLeavesOneLinePerStepInOrder() throws IOException {
        Path file = tmp.resolve("metrics.jsonl");
        try (MetricsLog log = new MetricsLog(file)) {
            for (int s = 1; s <= 5; s++) log.append(metrics(s, 10 + s, 1.0));
        }
        try (MetricsLog log = new MetricsLog(file)) {
            for (int s = 4; s <= 7; s++) log.append(metrics(s, 20 + s, 1.0));
        }
        // the file itself (what is copied into model/), not only what read() makes of it
        List<String> lines = Files.readAllLines(file);
        List<Long> steps = new java.util.ArrayList<>();
        for (String line : lines) steps.add(StepMetrics.parse(line).step());
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L), steps);
        assertEquals(13.0, StepMetrics.parse(lines.get(2)).taskLoss(), "kept from the first attempt");
        assertEquals(24.0, StepMetrics.parse(lines.get(3)).taskLoss(), "the resumed attempt's step 4 replaced the killed one's");
        assertEquals(steps, MetricsLog.read(file.toUri().toString(), new Configuration()).stream().map(StepMetrics::step).toList());
        try (var dir = Files.list(tmp)) {
            assertEquals(List.of(file), dir.toList(), "no temporary file left");
        }
    }

    @Test
    void openingALogLeftWithRepeatedStepsCleansIt() throws IOException {
        Path file = tmp.resolve("metrics.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int s : new int[]{1, 2, 3, 2, 3, 4}) sb.append(metrics(s, s, 1.0).toJson()).append('\n');
        sb.append("{\"step\":5,\"exa");  // and a partial line
        Files.writeString(file, sb);
        assertEquals(List.of(1L, 2L, 3L, 4L),
                MetricsLog.read(file.toUri().toString(), new Configuration()).stream().map(StepMetrics::step).toList());
        new MetricsLog(file).close();
        assertEquals(4, Files.readAllLines(file).size());
    }

    @Test
    void escapesTimingNames() throws IOException {
        StepMetrics m = new StepMetrics(1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, java.util.Map.of("we\"ird\\\n", 1.0));
        assertEquals(m, StepMetrics.parse(m.toJson()));
    }
}
