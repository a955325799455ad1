package org.sparkmoe.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job's {@code input.weightColumn} (the ML API's weightCol): weights of 1 train exactly like no
 * weight column, other weights change the training loss, and a bad weight exits 2 naming the file and
 * the column.
 */
class WeightColumnJobTest {

    /** x1,x2,x3,w,label rows of {@link MoEJobTest#classificationCsv}'s rule; weight {@code weight} per row, "bad" at row 9 if set. */
    static Path weightedCsv(Path dir, String name, java.util.function.IntFunction<String> weight) throws Exception {
        List<String> lines = Files.readAllLines(MoEJobTest.classificationCsv(Files.createDirectories(dir.resolve("src-" + name)), 300, false));
        StringBuilder sb = new StringBuilder("x1,x2,x3,w,label\n");
        for (int i = 1; i < lines.size(); i++) {
            String[] v = lines.get(i).split(",");
            sb.append(v[0]).append(',').append(v[1]).append(',').append(v[2]).append(',').append(weight.apply(i - 1)).append(',')
                    .append(v[3]).append('\n');
        }
        Path f = dir.resolve(name);
        Files.writeString(f, sb.toString());
        return f;
    }

    /** The task loss of every step, from the run's metrics.jsonl. */
    static List<Double> taskLosses(Path out) throws Exception {
        Path metrics;
        try (Stream<Path> s = Files.walk(out)) {
            metrics = s.filter(p -> p.getFileName().toString().equals("metrics.jsonl")).findFirst().orElseThrow();
        }
        List<Double> losses = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            if (!line.isBlank()) losses.add(MoEJobTest.JSON.readTree(line).get("taskLoss").asDouble());
        }
        return losses;
    }

    @Test
    void weightColumnActsOnTheTaskLoss(@TempDir Path tmp) throws Exception {
        List<String> base = new ArrayList<>(MoEJobTest.TINY_FEATURES);
        base.add("input.featureColumns=x1,x2,x3");
        base.add("charts.enabled=false");
        Path ones = weightedCsv(tmp, "ones.csv", i -> "1");
        Path skewed = weightedCsv(tmp, "skewed.csv", i -> i % 3 == 0 ? "0" : "2.5");

        MoEJobTest.Run plain = MoEJobTest.job("train", base, "input.path=" + ones, "output.dir=" + tmp.resolve("plain"));
        assertEquals(0, plain.code(), plain.out());
        MoEJobTest.Run unit = MoEJobTest.job("train", base, "input.path=" + ones, "input.weightColumn=w", "output.dir=" + tmp.resolve("unit"));
        assertEquals(0, unit.code(), unit.out());
        MoEJobTest.Run weighted = MoEJobTest.job("train", base, "input.path=" + skewed, "input.weightColumn=w",
                "output.dir=" + tmp.resolve("weighted"));
        assertEquals(0, weighted.code(), weighted.out());

        List<Double> lossPlain = taskLosses(tmp.resolve("plain"));
        assertEquals(4, lossPlain.size());
        assertEquals(lossPlain, taskLosses(tmp.resolve("unit")), "weights of 1 are no weights");
        assertNotEquals(lossPlain, taskLosses(tmp.resolve("weighted")), "the weights change the loss");

        Path bad = weightedCsv(tmp, "bad.csv", i -> i == 9 ? "-2" : "1");
        MoEJobTest.Run b = MoEJobTest.job("train", base, "input.path=" + bad, "input.weightColumn=w", "output.dir=" + tmp.resolve("bad"));
        assertEquals(2, b.code(), b.out());
        assertTrue(b.out().contains("bad.csv") && b.out().contains("'w'") && b.out().contains("weight is -2.0"), b.out());
        assertTrue(MoEJobTest.visible(tmp.resolve("bad")).stream().noneMatch("model"::equals));
    }
}
