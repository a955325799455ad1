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

    @Test
    void escapesTimingNames() throws IOException {
        StepMetrics m = new StepMetrics(1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, java.util.Map.of("we\"ird\\\n", 1.0));
        assertEquals(m, StepMetrics.parse(m.toJson()));
    }
}
