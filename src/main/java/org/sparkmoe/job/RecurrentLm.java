package org.sparkmoe.job;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Settings;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.Vocabulary;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;

import scala.Tuple2;

/**
 * The job's side of the recurrent language model (paper section 5.1; {@code lm.model} = lstm,
 * moe-1-wide or lstm-moe): its documents, the model a spec describes, and its model directory.
 *
 * <p>A recurrent model directory has the job's layout ({@link ModelDirectory}): spec.json's
 * {@code network} holds the model.* settings (V, d = modelDim, the MoE's gating, experts, k, h,
 * balance weights; the window-only fields are unused), its {@code data} the recurrent keys
 * ({@code lm.model}, {@code lm.seqLength}, {@code lm.streams}, {@code lm.dropout}), and
 * {@code parameters/} one {@link CheckpointStore} checkpoint in the recurrent model's layouts (as the
 * window model's format 1; not format 2's parquet table, whose rows follow the window network).
 * {@link ModelDirectory#open} refuses such a directory; the job's readers check
 * {@link #isRecurrent(ModelDirectory.Spec)} first.
 */
final class RecurrentLm {
    /** The keys recorded in spec.json's data that, with the network, fix the model's shape. */
    static final List<String> SHAPE_KEYS = List.of(Settings.LM_MODEL.jobKey(), Settings.LM_SEQ_LENGTH.jobKey(),
            Settings.LM_STREAMS.jobKey(), Settings.LM_DROPOUT.jobKey());

    private RecurrentLm() {
    }

    /** The model directory at {@code path} (a model directory, or a train output.dir holding one in model/); empty when neither has spec.json. */
    static java.util.Optional<Path> locate(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(conf);
        for (Path dir : new Path[] {p, new Path(p, "model")}) if (fs.exists(new Path(dir, ModelDirectory.SPEC))) return java.util.Optional.of(dir);
        return java.util.Optional.empty();
    }

    static boolean isRecurrent(ModelDirectory.Spec spec) {
        String kind = spec.data().get(Settings.LM_MODEL.jobKey());
        return kind != null && !kind.equals("window");
    }

    /** The model kind a spec records (window when it records none). */
    static String kind(ModelDirectory.Spec spec) {
        return spec.data().getOrDefault(Settings.LM_MODEL.jobKey(), "window");
    }

    /** The model a recurrent spec describes. */
    static RecurrentLanguageModel model(ModelDirectory.Spec spec) {
        NetworkSpec net = spec.network();
        double dropout = Double.parseDouble(spec.data().get(Settings.LM_DROPOUT.jobKey()));
        int v = net.vocabulary(), d = net.modelDim();
        return switch (kind(spec)) {
            case "lstm" -> RecurrentLanguageModel.lstmOnly(v, d, dropout);
            // table 7's baseline: the MoE rows' compute per token in one always-on expert
            case "moe-1-wide" -> RecurrentLanguageModel.moeOneWide(v, d, net.activeExperts() * net.expertHidden(), dropout);
            case "lstm-moe" -> RecurrentLanguageModel.withMoE(v, d, net.build().moe().gating(), net.expertHidden(),
                    new BalanceWeights(net.wImportance(), net.wLoad()), dropout);
            default -> throw new IllegalArgumentException("spec.json records lm.model = " + kind(spec) + ", not a recurrent model");
        };
    }

    /** The recurrent keys of the configuration, as spec.json's data records them. */
    static Map<String, String> shape(JobConfig cfg) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String k : SHAPE_KEYS) m.put(k, cfg.string(k));
        return m;
    }

    /** Where two specs' recurrent keys differ ("" when they agree). */
    static String shapeDifference(ModelDirectory.Spec there, ModelDirectory.Spec now) {
        List<String> d = new ArrayList<>();
        for (String k : SHAPE_KEYS) {
            String a = there.data().getOrDefault(k, k.equals(Settings.LM_MODEL.jobKey()) ? "window" : "");
            String b = now.data().getOrDefault(k, k.equals(Settings.LM_MODEL.jobKey()) ? "window" : "");
            if (!a.equals(b)) d.add(k + " " + a + " there, " + b + " now");
        }
        return String.join(", ", d);
    }

    /**
     * The engine config of a recurrent run: SHUFFLE routing (the only one the sequence engine has),
     * the expert shards within the model's experts, a batch of S*T tokens (not engine.batchSize), the
     * configured shuffle payload.
     */
    static EngineConfig engineConfig(JobConfig cfg, RecurrentLanguageModel model, int tokensPerStep) {
        EngineConfig ec = cfg.engineConfig();
        int shards = Math.max(1, Math.min(ec.expertShards(), Math.max(1, model.numExperts())));
        ExpertPlacement placement = model.numExperts() == 0 ? ExpertPlacement.DRIVER : ec.placement();
        return EngineConfig.of(RoutingMode.SHUFFLE, placement, shards, tokensPerStep, ec.trainer()).withShufflePayload(ec.shufflePayload());
    }

    // ------------------------------------------------------------------ documents

    /**
     * The documents of a run, as word ids without the end token: the training documents indexed
     * 0..{@code trainCount}-1 (a stable order, for the streams), the held-out ones, the vocabulary and
     * what spec.json's data records about them.
     */
    record Documents(JavaPairRDD<Long, int[]> train, long trainCount, JavaPairRDD<Long, int[]> heldout, Vocabulary vocabulary,
                     Map<String, String> metadata) {
    }

    /**
     * The documents the configuration names: the built-in corpus (its documents held out by the
     * job's hash of the document index) or text input (held out by {@code heldout.path}, else by the
     * hash of the document id, as the window model's data). {@code vocabulary}: a saved model's
     * (null = the built-in corpus's words, or the most frequent words of the training documents).
     */
    static Documents load(JavaSparkContext sc, JobConfig cfg, Vocabulary vocabulary) {
        int partitions = cfg.integer("input.partitions") > 0 ? cfg.integer("input.partitions") : sc.defaultParallelism();
        String input = cfg.string("input.path");
        String heldoutPath = JobData.heldoutPath(cfg);
        return input.isEmpty() ? builtIn(sc, cfg, vocabulary, partitions) : text(sc, cfg, vocabulary, input, heldoutPath, partitions);
    }

    private static Documents builtIn(JavaSparkContext sc, JobConfig cfg, Vocabulary saved, int partitions) {
        int v = saved != null ? saved.size() : Settings.vocabularySize(cfg.integer("model.vocabularySize"), true);
        MarkovMixtureCorpus corpus = JobData.corpus(cfg, v);
        long n = cfg.longValue("synthetic.documents");
        double fraction = cfg.number("heldout.fraction");
        List<Long> train = new ArrayList<>(), held = new ArrayList<>();
        for (long doc = 0; doc < n; doc++) (JobData.isHeldout(doc, corpus.seed(), fraction) ? held : train).add(doc);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("data", "built-in Markov-mixture corpus");
        for (String k : List.of("synthetic.domains", "synthetic.documents", "synthetic.documentLength", "synthetic.seed")) {
            meta.put(k, cfg.string(k));
        }
        meta.put("vocabulary", Integer.toString(v));
        meta.put("heldout.fraction", Double.toString(fraction));
        List<String> words = new ArrayList<>();
        for (int i = 0; i < v - JobData.SPECIALS; i++) words.add(corpus.word(i));
        return new Documents(generated(sc, corpus, train, partitions), train.size(), generated(sc, corpus, held, partitions),
                saved != null ? saved : Vocabulary.of(words, null), meta);
    }

    /** Documents {@code ids} of the corpus, generated on the executors, keyed by their position in {@code ids}. */
    private static JavaPairRDD<Long, int[]> generated(JavaSparkContext sc, MarkovMixtureCorpus corpus, List<Long> ids, int partitions) {
        List<Long> positions = new ArrayList<>(ids.size());
        for (long i = 0; i < ids.size(); i++) positions.add(i);
        List<Long> docs = List.copyOf(ids);
        return sc.parallelize(positions, Math.max(1, Math.min(partitions, positions.size()))).mapPartitionsToPair(it -> {
            Map<String, Integer> wordIds = JobData.wordIds(corpus);
            List<Tuple2<Long, int[]>> out = new ArrayList<>();
            it.forEachRemaining(i -> out.add(new Tuple2<>(i, JobData.tokens(corpus.document(docs.get(i.intValue())).text(), wordIds))));
            return out.iterator();
        });
    }

    private static Documents text(JavaSparkContext sc, JobConfig cfg, Vocabulary saved, String input, String heldoutPath, int partitions) {
        JobData.checkInputExists(sc, input, "input.path");
        JavaPairRDD<String, String> docs = JobData.textDocuments(sc, cfg, input, partitions);
        JavaPairRDD<String, String> train, held;
        double fraction = cfg.number("heldout.fraction");
        if (!heldoutPath.isEmpty()) {
            JobData.checkInputExists(sc, heldoutPath, "heldout.path");
            train = docs;
            held = JobData.textDocuments(sc, cfg, heldoutPath, partitions);
            fraction = 0;
        } else {
            LanguageModelData split = new LanguageModelData(Vocabulary.of(List.of(), null), JobData.tokenizer(cfg), 1)
                    .withHeldOut(fraction, cfg.longValue("synthetic.seed"));
            train = docs.filter(x -> !split.isHeldOut(x._1()));
            held = docs.filter(x -> split.isHeldOut(x._1()));
        }
        Vocabulary vocab = saved != null ? saved : Vocabulary.build(train.values(), JobData.tokenizer(cfg),
                Settings.vocabularySize(cfg.integer("model.vocabularySize"), false));
        if (vocab.size() < JobConfig.MIN_VOCABULARY) {
            throw new JobData.InputException("input " + input + " (config key 'input.path') gives a vocabulary of " + vocab.size()
                    + " ids: no words besides <unk> and <eos>");
        }
        LanguageModelData lm = new LanguageModelData(vocab, JobData.tokenizer(cfg), 1);
        JavaPairRDD<Long, int[]> trainDocs = indexed(train, lm, partitions);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("data", "text");
        meta.put("input.path", input);
        meta.put("input.format", cfg.string("input.format"));
        if (!heldoutPath.isEmpty()) meta.put("heldout.path", heldoutPath);
        meta.put("vocabulary", Integer.toString(vocab.size()));
        meta.put("vocabularyFile", ModelDirectory.VOCABULARY);
        meta.put("heldout.fraction", Double.toString(fraction));
        return new Documents(trainDocs, trainDocs.count(), indexed(held, lm, partitions), vocab, meta);
    }

    /** Documents as word ids, indexed 0.. in document-id order; empty documents dropped. */
    private static JavaPairRDD<Long, int[]> indexed(JavaPairRDD<String, String> docs, LanguageModelData lm, int partitions) {
        return docs.sortByKey(true, partitions).values().map(lm::encode).filter(x -> x.length > 0).zipWithIndex()
                .mapToPair(x -> new Tuple2<>(x._2(), x._1())).cache();
    }

    // ------------------------------------------------------------------ the model directory's parameters

    private static ParameterLayout expertLayout(RecurrentLanguageModel model) {
        return model.moe() == null ? ParameterLayout.builder().build() : model.moe().expert().layout();
    }

    /** Writes the parameters into {@code dir}/parameters (one checkpoint in the recurrent model's layouts). */
    static void writeParameters(Path dir, ModelDirectory.Spec spec, RecurrentLanguageModel model, TrainingState state, int expertShards,
                                Configuration conf) throws IOException {
        CheckpointStore store = new CheckpointStore(new Path(dir, ModelDirectory.PARAMETERS).toString(), conf, 1);
        int shards = model.numExperts() == 0 ? 0 : Math.max(1, Math.min(expertShards, model.numExperts()));
        store.save(state, CheckpointMeta.of(state.step(), 0, 0, state.params().shared().precision(), model.numExperts(), shards,
                model.sharedLayout(), expertLayout(model), spec.provenance()));
    }

    /** The parameters of a recurrent model directory. */
    static TrainingState readParameters(Path dir, RecurrentLanguageModel model, Configuration conf) throws IOException {
        CheckpointStore store = new CheckpointStore(new Path(dir, ModelDirectory.PARAMETERS).toString(), conf, 1);
        java.util.Optional<CheckpointMeta> latest = store.latest();
        if (latest.isEmpty()) {
            throw new IOException("model " + dir + " has no parameters (" + ModelDirectory.PARAMETERS + "/ is empty or incomplete)");
        }
        return store.loadTrainingState(latest.get().step(), model.sharedLayout(), expertLayout(model));
    }
}
