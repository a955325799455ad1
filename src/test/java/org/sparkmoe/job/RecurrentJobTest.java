package org.sparkmoe.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.job.MoEJobTest.JSON;
import static org.sparkmoe.job.MoEJobTest.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.metrics.StepMetrics;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The recurrent language model (lm.model) from the job: train, evaluate, resume, and the refusals,
 * on tiny models ({@link RecurrentCommandsTest}: score, inspect, retrain).
 */
class RecurrentJobTest {
    static final List<String> TINY = List.of("lm.model=lstm-moe", "lm.seqLength=5", "lm.streams=4", "lm.dropout=0.1",
            "model.vocabularySize=24", "model.modelDim=8", "model.expertHiddenSize=8", "model.numExperts=4", "model.k=2",
            "synthetic.documents=40", "synthetic.documentLength=12", "synthetic.domains=2", "input.partitions=2",
            "optim.warmupSteps=2", "checkpoint.interval=2", "heldout.fraction=0.25", "charts.enabled=false");

    private static List<String> with(String... more) {
        List<String> a = new ArrayList<>(TINY);
        a.addAll(List.of(more));
        return a;
    }

    private static List<StepMetrics> metrics(Path file) throws Exception {
        List<StepMetrics> m = new ArrayList<>();
        for (String line : Files.readAllLines(file)) if (!line.isBlank()) m.add(StepMetrics.parse(line));
        return m;
    }

    @Test
    void trainEvaluateAndResumeATinyLstmMoE(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        MoEJobTest.Run t = job("train", with("optim.maxSteps=4"), "output.dir=" + out);
        assertEquals(0, t.code(), t.out());
        assertTrue(t.out().contains("step 4/4"), t.out());
        Path model = out.resolve("model");
        for (String f : List.of("spec.json", "summary.json", "metrics.jsonl", "vocabulary.txt")) {
            assertTrue(Files.isRegularFile(model.resolve(f)), f);
        }
        JsonNode spec = JSON.readTree(model.resolve("spec.json").toFile());
        assertEquals("lstm-moe", spec.get("recurrent").get("kind").asText());
        assertEquals("5", spec.get("recurrent").get("seqLength").asText());
        assertTrue(Files.isDirectory(model.resolve("parameters")) && Files.isDirectory(model.resolve("optimiser")), "format 2 tables");
        JsonNode s = JSON.readTree(model.resolve("summary.json").toFile());
        double ppl = s.get("heldout").get("perplexity").asDouble();
        assertTrue(ppl > 1 && ppl < 24, "held-out perplexity " + ppl + " (V = 24)");
        assertEquals(4, s.get("steps").asLong());
        assertEquals(4, s.get("experts").asInt());
        assertTrue(s.get("parametersTotal").asLong() > s.get("parametersActivePerToken").asLong());
        long predicted = metrics(model.resolve("metrics.jsonl")).get(0).examples();
        assertTrue(predicted > 4 * 5 / 2 && predicted <= 4 * 5, predicted + " predictions: a step is S*T = 20 positions, less padding");

        // evaluate reads the published model: the same held-out documents, the same perplexity
        MoEJobTest.Run ev = job("evaluate", List.of(), "job.model=" + out, "evaluate.output=" + tmp.resolve("eval.json"));
        assertEquals(0, ev.code(), ev.out());
        JsonNode e = JSON.readTree(tmp.resolve("eval.json").toFile());
        assertEquals("lstm-moe", e.get("lm.model").asText());
        assertEquals(ppl, e.get("perplexity").asDouble(), 1e-9 * ppl);
        assertEquals(s.get("heldout").get("tokens").asLong(), e.get("tokens").asLong());

        // resume to step 6 from the step-4 checkpoint (LSTM state and stream positions included) = 6 steps in one run
        assertTrue(Files.isRegularFile(out.resolve("checkpoints/step-000000004/sequences.bin")), "the checkpoint holds the LSTM state");
        MoEJobTest.Run more = job("train", with("optim.maxSteps=6"), "output.dir=" + out);
        assertEquals(0, more.code(), more.out());
        assertTrue(more.out().contains("resuming at step 4"), more.out());
        Path straight = tmp.resolve("straight");
        assertEquals(0, job("train", with("optim.maxSteps=6"), "output.dir=" + straight).code());
        List<StepMetrics> resumed = metrics(out.resolve("model/metrics.jsonl")), once = metrics(straight.resolve("model/metrics.jsonl"));
        assertEquals(6, resumed.size());
        for (int i = 0; i < 6; i++) assertEquals(once.get(i).taskLoss(), resumed.get(i).taskLoss(), 0.0, "step " + (i + 1));
        assertEquals(JSON.readTree(straight.resolve("model/summary.json").toFile()).get("heldout").get("perplexity").asDouble(),
                JSON.readTree(out.resolve("model/summary.json").toFile()).get("heldout").get("perplexity").asDouble(), 0.0);

        // another recurrent shape in the same output.dir: nothing touched
        MoEJobTest.Run other = job("train", with("optim.maxSteps=6", "lm.model=lstm"), "output.dir=" + out);
        assertEquals(2, other.code(), other.out());
        assertTrue(other.out().contains("lm.model lstm-moe there, lstm now"), other.out());
    }

    @Test
    void theBaselinesTrainAndEvaluate(@TempDir Path tmp) throws Exception {
        for (String kind : List.of("lstm", "moe-1-wide")) {
            Path out = tmp.resolve(kind);
            MoEJobTest.Run t = job("train", with("optim.maxSteps=2", "lm.model=" + kind), "output.dir=" + out);
            assertEquals(0, t.code(), t.out());
            JsonNode s = JSON.readTree(out.resolve("model/summary.json").toFile());
            assertEquals(kind.equals("lstm") ? 0 : 1, s.get("experts").asInt());
            MoEJobTest.Run ev = job("evaluate", List.of(), "job.model=" + out);
            assertEquals(0, ev.code(), ev.out());
            assertTrue(ev.out().contains("\"perplexity\""), ev.out());
        }
    }

    @Test
    void badRecurrentSettingsNameTheKey(@TempDir Path tmp) {
        MoEJobTest.Run local = job("train", with("engine.routing=local", "engine.placement=sharded"), "output.dir=" + tmp.resolve("a"));
        assertEquals(2, local.code(), local.out());
        assertTrue(local.out().contains("engine.routing") && local.out().contains("engine.placement") && local.out().contains("lm.model"),
                local.out());
        MoEJobTest.Run task = job("train", List.of("task=regression", "lm.model=lstm"), "output.dir=" + tmp.resolve("b"));
        assertEquals(2, task.code(), task.out());
        assertTrue(task.out().contains("'lm.model'"), task.out());
        MoEJobTest.Run streams = job("train", with("lm.streams=64"), "output.dir=" + tmp.resolve("c"));
        assertEquals(2, streams.code(), streams.out());
        assertTrue(streams.out().contains("'lm.streams' = 64"), streams.out());
        MoEJobTest.Run value = job("train", with("lm.model=gru"), "output.dir=" + tmp.resolve("d"));
        assertEquals(2, value.code(), value.out());
        assertTrue(value.out().contains("'lm.model' has invalid value 'gru'"), value.out());
    }
}
