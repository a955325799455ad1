package org.sparkmoe.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparkmoe.app.ModelDirectoryTest.assertSame;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.checkpoint.CorruptCheckpointException;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The recurrent language model in the one model layout (format 2): spec.json's "recurrent" object,
 * the parquet parameter and optimiser tables in the recurrent model's tensors, read back bit for bit
 * for each kind; the feed-forward reader refuses it, a damaged or non-finite table is refused naming
 * what is wrong, and a recurrent model directory of the earlier layout (parameters/ a checkpoint)
 * still reads.
 */
class RecurrentModelDirectoryTest {
    /** V = 12, d = 6; the MoE: hierarchical 2 x 2 experts, 1 x 1 active, h = 5 (moe-1-wide: one expert of hidden 5). */
    static final NetworkSpec NET = NetworkSpec.builder(NetworkSpec.Task.LANGUAGE_MODEL).vocabulary(12).outputs(12).context(1)
            .embeddingDim(6).modelDim(6).gating(NetworkSpec.GatingType.HIERARCHICAL).groups(2).expertsPerGroup(2).kPrimary(1)
            .kSecondary(1).expertHidden(5).wImportance(0.1).wLoad(0.1).build();

    static ModelDirectory.Spec spec(String kind) {
        return new ModelDirectory.Spec(NET, Map.of("data", "test"), Map.of("createdBy", "RecurrentModelDirectoryTest"),
                new RecurrentSpec(kind, 0.25, 7, 3));
    }

    /** Random parameters and random Adam moments at step 9. */
    static TrainingState state(RecurrentLanguageModel model, long seed) {
        TrainingState s = TrainingState.fresh(model.initialise(Precision.F32, seed), new Adam());
        SplittableRandom rnd = new SplittableRandom(seed);
        List<OptimiserState> all = new ArrayList<>(List.of(s.expertOptimisers()));
        all.add(s.sharedOptimiser());
        for (OptimiserState o : all) for (OptimiserState.Slot slot : o.slots()) slot.values().fill(() -> rnd.nextDouble(-1, 1));
        return new TrainingState(s.params(), s.sharedOptimiser(), s.expertOptimisers(), 9);
    }

    private static void assertSameState(TrainingState a, TrainingState b, List<String> slots) {
        assertEquals(a.step(), b.step());
        assertSame(a.params().shared(), b.params().shared(), "shared parameters");
        for (String slot : slots) assertSame(a.sharedOptimiser().slot(slot), b.sharedOptimiser().slot(slot), "shared " + slot);
        assertEquals(a.params().experts().length, b.params().experts().length, "experts");
        for (int e = 0; e < a.params().experts().length; e++) {
            assertSame(a.params().experts()[e], b.params().experts()[e], "expert " + e);
            for (String slot : slots) assertSame(a.expertOptimisers()[e].slot(slot), b.expertOptimisers()[e].slot(slot), "expert " + e + " " + slot);
        }
    }

    @Test
    void everyKindReadsBackExactlyAndOnlyAsARecurrentModel(@TempDir Path tmp) throws Exception {
        SparkSession spark = ModelDirectoryTest.spark();
        for (String kind : RecurrentSpec.KINDS) {
            ModelDirectory.Spec spec = spec(kind);
            RecurrentLanguageModel model = spec.recurrentModel();
            assertEquals(kind.equals("lstm") ? 0 : kind.equals("moe-1-wide") ? 1 : 4, model.numExperts(), kind);
            TrainingState s = state(model, 5);
            Path dir = tmp.resolve(kind);
            ModelDirectory.write(new org.apache.hadoop.fs.Path(dir.toString()), spec, s, null, spark);

            JsonNode json = ModelDirectory.JSON.readTree(dir.resolve(ModelDirectory.SPEC).toFile());
            assertEquals(kind, json.get("recurrent").get("kind").asText());
            assertEquals("7", json.get("recurrent").get("seqLength").asText());
            assertEquals("12", json.get("network").get("vocabulary").asText());

            ModelDirectory.Saved saved = ModelDirectory.openRecurrent(dir.toString(), spark).orElseThrow();
            assertEquals(ModelDirectory.Layout.V2, saved.layout(), kind);
            assertEquals(spec, saved.spec(), kind);
            assertEquals(0.25, saved.spec().recurrentModel().dropRate());
            assertSameState(s, saved.readState(spark), saved.optimiserSlots());

            IOException ff = assertThrows(IOException.class, () -> ModelDirectory.open(dir.toString(), spark));
            assertTrue(ff.getMessage().contains("recurrent language model") && ff.getMessage().contains(kind), ff.getMessage());
        }
        // the other way round: a feed-forward model is not a recurrent one
        Path ffDir = tmp.resolve("ff");
        ModelDirectory.write(new org.apache.hadoop.fs.Path(ffDir.toString()), new ModelDirectory.Spec(ModelDirectoryTest.SPEC, Map.of(), Map.of()),
                ModelDirectoryTest.state(ModelDirectoryTest.SPEC.build(), 1), null, spark);
        IOException rec = assertThrows(IOException.class, () -> ModelDirectory.openRecurrent(ffDir.toString(), spark));
        assertTrue(rec.getMessage().contains("not a recurrent language model"), rec.getMessage());
        assertFalse(ModelDirectory.open(ffDir.toString(), spark).orElseThrow().spec().isRecurrent());
    }

    @Test
    void damagedAndNonFiniteTablesAreRefused(@TempDir Path tmp) throws Exception {
        SparkSession spark = ModelDirectoryTest.spark();
        ModelDirectory.Spec spec = spec("lstm-moe");
        RecurrentLanguageModel model = spec.recurrentModel();
        TrainingState s = state(model, 6);
        s.params().shared().get("lstm2.w").set(1, 2, Double.POSITIVE_INFINITY);
        Path dir = tmp.resolve("inf");
        ModelDirectory.write(new org.apache.hadoop.fs.Path(dir.toString()), spec, s, null, spark);
        ModelDirectory.Saved saved = ModelDirectory.openRecurrent(dir.toString(), spark).orElseThrow();
        CorruptCheckpointException bad = assertThrows(CorruptCheckpointException.class, () -> saved.readParameters(spark));
        assertTrue(bad.getMessage().contains(ModelDirectory.PARAMETERS) && bad.getMessage().contains("'lstm2.w' of shared")
                && bad.getMessage().contains("non-finite value (Infinity) at row 1, column 2"), bad.getMessage());

        // a table missing an expert's rows: refused, naming what is missing
        TrainingState good = state(model, 7);
        Path cut = tmp.resolve("cut");
        ModelDirectory.write(new org.apache.hadoop.fs.Path(cut.toString()), spec, good.params().shared(),
                ParameterTable.localExperts(java.util.Arrays.copyOf(good.params().experts(), 3)), null, null, spark);
        ModelDirectory.Saved short3 = ModelDirectory.openRecurrent(cut.toString(), spark).orElseThrow();
        CorruptCheckpointException missing = assertThrows(CorruptCheckpointException.class, () -> short3.readParameters(spark));
        assertTrue(missing.getMessage().contains("tensors of expert 3"), missing.getMessage());

        // a spec whose recurrent object is unusable: an error naming spec.json and the key
        Path specFile = dir.resolve(ModelDirectory.SPEC);
        Files.writeString(specFile, Files.readString(specFile).replace("\"kind\" : \"lstm-moe\"", "\"kind\" : \"gru\""));
        Files.deleteIfExists(dir.resolve("." + ModelDirectory.SPEC + ".crc")); // a hand edit
        IOException kind = assertThrows(IOException.class, () -> ModelDirectory.openRecurrent(dir.toString(), spark));
        assertTrue(kind.getMessage().contains(ModelDirectory.SPEC) && kind.getMessage().contains("'gru'"), kind.getMessage());
    }

    @Test
    void theEarlierRecurrentLayoutStillReads(@TempDir Path tmp) throws Exception {
        // as the job wrote it before format 2 held the recurrent model: the kind in data's lm.* keys, parameters/ a checkpoint
        SparkSession spark = ModelDirectoryTest.spark();
        ModelDirectory.Spec now = spec("moe-1-wide");
        RecurrentLanguageModel model = now.recurrentModel();
        TrainingState s = state(model, 8);
        Path dir = tmp.resolve("old");
        Files.createDirectories(dir);
        Map<String, String> data = Map.of("lm.model", "moe-1-wide", "lm.seqLength", "7", "lm.streams", "3", "lm.dropout", "0.25");
        String json = new ModelDirectory.Spec(NET, data, Map.of()).toJson();
        Files.writeString(dir.resolve(ModelDirectory.SPEC), json);
        ParameterTable.Shape shape = now.shape();
        new CheckpointStore(dir.resolve(ModelDirectory.PARAMETERS).toString(), spark.sparkContext().hadoopConfiguration(), 1)
                .save(s, CheckpointMeta.of(s.step(), 0, 0, Precision.F32, shape.experts(), 1, shape.shared(), shape.expert(), Map.of()));

        ModelDirectory.Saved saved = ModelDirectory.openRecurrent(dir.toString(), spark).orElseThrow();
        assertEquals(ModelDirectory.Layout.V1_JOB, saved.layout());
        assertEquals(now.recurrent(), saved.spec().recurrent());
        assertSameState(s, saved.readState(spark), List.of("m", "v"));
    }
}
