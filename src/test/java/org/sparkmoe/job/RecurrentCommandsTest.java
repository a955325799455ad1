package org.sparkmoe.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.job.MoEJobTest.JSON;
import static org.sparkmoe.job.MoEJobTest.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The recurrent language model through the job's other commands, on tiny models: score (every
 * held-out position's next-token probabilities; their perplexity is evaluate's), inspect (the
 * model's shape and tensors), retrain (a warm start from the published version, the bar, a
 * different model refused).
 */
class RecurrentCommandsTest {
    private static List<String> with(String... more) {
        List<String> a = new ArrayList<>(RecurrentJobTest.TINY);
        a.addAll(List.of(more));
        return a;
    }

    /** The last line of a command's output that is a JSON object, parsed. */
    private static JsonNode jsonOf(String out) throws Exception {
        int start = out.indexOf("{\n");
        return JSON.readTree(out.substring(start, out.lastIndexOf('}') + 1));
    }

    @Test
    void scoreGivesEveryPositionsNextTokenProbabilitiesAndInspectTheShape(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        assertEquals(0, job("train", with("optim.maxSteps=3"), "output.dir=" + out).code());
        MoEJobTest.Run ev = job("evaluate", List.of(), "job.model=" + out, "evaluate.output=" + tmp.resolve("eval.json"));
        assertEquals(0, ev.code(), ev.out());
        JsonNode e = JSON.readTree(tmp.resolve("eval.json").toFile());

        Path scores = tmp.resolve("scores");
        MoEJobTest.Run sc = job("score", List.of(), "job.model=" + out, "score.output=" + scores, "score.topK=3");
        assertEquals(0, sc.code(), sc.out());
        List<Row> rows = SparkSession.builder().getOrCreate().read().parquet(scores.toString()).collectAsList();
        assertEquals(e.get("tokens").asLong(), rows.size(), "one row per held-out prediction");
        double nll = 0;
        Map<Long, List<Integer>> positions = new HashMap<>();
        Map<Long, String> last = new HashMap<>();
        for (Row r : rows) {
            double p = r.getDouble(r.fieldIndex("labelProbability"));
            nll -= Math.log(p);
            List<Double> top = r.getList(r.fieldIndex("topProbabilities"));
            List<String> words = r.getList(r.fieldIndex("topWords"));
            assertEquals(3, top.size());
            assertEquals(3, words.size());
            assertTrue(top.get(0) >= top.get(1) && top.get(1) >= top.get(2), "most probable first: " + top);
            assertEquals(top.get(0), r.getDouble(r.fieldIndex("probability")), 0.0);
            assertTrue(p <= top.get(0) && (p < top.get(2) || words.contains(r.getString(r.fieldIndex("labelWord")))), r.toString());
            long doc = r.getLong(r.fieldIndex("document"));
            int pos = r.getInt(r.fieldIndex("position"));
            positions.computeIfAbsent(doc, k -> new ArrayList<>()).add(pos);
            if (pos == positions.get(doc).stream().mapToInt(Integer::intValue).max().getAsInt()) {
                last.put(doc, r.getString(r.fieldIndex("labelWord")));
            }
        }
        // the perplexity of the scores is evaluate's: the same predictions, the state carried through each document
        double ppl = e.get("perplexity").asDouble();
        assertEquals(ppl, Math.exp(nll / rows.size()), 1e-4 * ppl);
        for (Map.Entry<Long, List<Integer>> d : positions.entrySet()) {
            List<Integer> p = new ArrayList<>(d.getValue());
            p.sort(null);
            for (int i = 0; i < p.size(); i++) assertEquals(i, p.get(i), "document " + d.getKey() + " positions " + p);
            assertEquals("<eos>", last.get(d.getKey()), "a document's last prediction is its end");
        }

        MoEJobTest.Run in = job("inspect", List.of(), "job.model=" + out);
        assertEquals(0, in.code(), in.out());
        JsonNode i = jsonOf(in.out());
        assertEquals("lstm-moe", i.get("lm.model").asText());
        assertEquals(8, i.get("recurrent").get("dim").asInt());
        assertEquals(5, i.get("recurrent").get("seqLength").asInt());
        assertTrue(i.get("recurrent").get("moe").asText().contains("4 experts"), i.toString());
        assertEquals("8x32", i.get("tensors").get("lstm1.w").asText(), "d x 4d: the LSTM's four gates");
        assertEquals("24x8", i.get("tensors").get("lm.embedding").asText());
        assertEquals(3, i.get("steps").asLong());
        JsonNode summary = JSON.readTree(out.resolve("model/summary.json").toFile());
        assertEquals(summary.get("parametersTotal").asLong(), i.get("parametersTotal").asLong());
        assertEquals(summary.get("heldout").get("perplexity").asDouble(), i.get("summary").get("heldout").get("perplexity").asDouble(), 0.0);
    }

    @Test
    void retrainWarmStartsFromThePublishedRecurrentModel(@TempDir Path tmp) throws Exception {
        Path root = tmp.resolve("root");
        List<String> base = with("optim.maxSteps=2", "retrain.root=" + root);
        MoEJobTest.Run first = job("retrain", base, "retrain.date=2026-12-01");
        assertEquals(0, first.code(), first.out());
        assertTrue(first.out().contains("cold start"), first.out());
        assertEquals("v-2026-12-01", Files.readString(root.resolve("LATEST")).trim());

        MoEJobTest.Run second = job("retrain", base, "retrain.date=2026-12-02");
        assertEquals(0, second.code(), second.out());
        assertTrue(second.out().contains("warm start from") && second.out().contains("(step 2)"), second.out());
        Path v2 = root.resolve("v-2026-12-02");
        JsonNode spec = JSON.readTree(v2.resolve("spec.json").toFile());
        assertEquals("v-2026-12-01", spec.get("provenance").get("warmStartFrom").asText());
        assertEquals("lstm-moe", spec.get("recurrent").get("kind").asText());
        JsonNode s = JSON.readTree(v2.resolve("summary.json").toFile());
        assertEquals(4, s.get("steps").asLong(), "2 more steps after the published model's 2");
        List<String> metrics = Files.readAllLines(v2.resolve("metrics.jsonl")).stream().filter(l -> !l.isBlank()).toList();
        assertEquals(3, JSON.readTree(metrics.get(0)).get("step").asLong(), "the warm start goes on from step 2");
        assertEquals(Files.readString(root.resolve("v-2026-12-01/vocabulary.txt")), Files.readString(v2.resolve("vocabulary.txt")),
                "the published model's words keep their ids");
        assertEquals(0, job("evaluate", List.of(), "job.model=" + v2).code());

        // the bar: nothing published, LATEST stays
        MoEJobTest.Run rejected = job("retrain", base, "retrain.date=2026-12-03", "bar.maxPerplexity=1.0001");
        assertEquals(3, rejected.code(), rejected.out());
        assertTrue(Files.notExists(root.resolve("v-2026-12-03")));
        assertEquals("v-2026-12-02", Files.readString(root.resolve("LATEST")).trim());

        // another model than the published one: refused naming the difference
        MoEJobTest.Run window = job("retrain", with("optim.maxSteps=2", "retrain.root=" + root, "lm.model=window"), "retrain.date=2026-12-04");
        assertEquals(2, window.code(), window.out());
        assertTrue(window.out().contains("lm.model lstm-moe there, window now"), window.out());
        MoEJobTest.Run dropout = job("retrain", base, "retrain.date=2026-12-04", "lm.dropout=0.3");
        assertEquals(2, dropout.code(), dropout.out());
        assertTrue(dropout.out().contains("lm.dropout 0.1 there, 0.3 now"), dropout.out());
    }
}
