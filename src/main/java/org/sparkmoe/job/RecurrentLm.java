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
import org.apache.spark.sql.SparkSession;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.app.Settings;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.Vocabulary;

import scala.Tuple2;

/**
 * The job's side of the recurrent language model (paper section 5.1; {@code lm.model} = lstm,
 * moe-1-wide or lstm-moe): its documents, its spec, and a saved one read back.
 *
 * <p>A recurrent model directory is the one model layout ({@link ModelDirectory}, format 2):
 * spec.json's {@code network} holds the model.* settings (V, d = modelDim, the MoE's gating,
 * experts, k, h, balance weights; the window-only fields are unused), its {@code recurrent} object
 * the {@link RecurrentSpec} ({@code lm.model}, {@code lm.dropout}, {@code lm.seqLength},
 * {@code lm.streams}), {@code parameters/} and {@code optimiser/} the parquet tables.
 */
final class RecurrentLm {
    private RecurrentLm() {
    }

    /** The model kind a spec records (window when it is not recurrent). */
    static String kind(ModelDirectory.Spec spec) {
        return spec.isRecurrent() ? spec.recurrent().kind() : "window";
    }

    /** The recurrent model the configuration describes. */
    static RecurrentSpec recurrentSpec(JobConfig cfg) {
        return new RecurrentSpec(cfg.string(Settings.LM_MODEL.jobKey()), cfg.number(Settings.LM_DROPOUT.jobKey()),
                cfg.integer(Settings.LM_SEQ_LENGTH.jobKey()), cfg.integer(Settings.LM_STREAMS.jobKey()));
    }

    /** The job keys of a spec's recurrent fields (lm.model = window when it is not recurrent). */
    private static Map<String, String> jobKeys(ModelDirectory.Spec spec) {
        Map<String, String> m = new LinkedHashMap<>();
        RecurrentSpec r = spec.recurrent();
        m.put(Settings.LM_MODEL.jobKey(), r == null ? "window" : r.kind());
        m.put(Settings.LM_SEQ_LENGTH.jobKey(), r == null ? "" : Integer.toString(r.seqLength()));
        m.put(Settings.LM_STREAMS.jobKey(), r == null ? "" : Integer.toString(r.streams()));
        m.put(Settings.LM_DROPOUT.jobKey(), r == null ? "" : Double.toString(r.dropout()));
        return m;
    }

    /** Where two specs' recurrent fields differ, by job key ("" when they agree). */
    static String shapeDifference(ModelDirectory.Spec there, ModelDirectory.Spec now) {
        List<String> d = new ArrayList<>();
        Map<String, String> a = jobKeys(there), b = jobKeys(now);
        for (String k : a.keySet()) if (!a.get(k).equals(b.get(k))) d.add(k + " " + a.get(k) + " there, " + b.get(k) + " now");
        return String.join(", ", d);
    }

    /** A saved recurrent model read back: where it is, its spec, the model, its parameters (with optimiser state) and vocabulary. */
    record Saved(Path dir, ModelDirectory.Spec spec, RecurrentLanguageModel model, TrainingState state, Vocabulary vocabulary) {
    }

    /** Reads the recurrent model {@code saved} (parameters, optimiser state, vocabulary). */
    static Saved read(ModelDirectory.Saved saved, Configuration conf) throws IOException {
        ModelDirectory.Spec spec = saved.spec();
        Vocabulary vocab = vocabulary(saved.dir(), spec, conf);
        return new Saved(saved.dir(), spec, spec.recurrentModel(), saved.readState(SparkSession.builder().getOrCreate()), vocab);
    }

    /** The vocabulary of the recurrent model directory {@code dir} (spec {@code spec}), checked against its V. */
    static Vocabulary vocabulary(Path dir, ModelDirectory.Spec spec, Configuration conf) {
        Vocabulary vocab;
        try {
            vocab = Vocabulary.load(ModelDirectory.vocabularyFile(dir, conf).toString(), conf);
        } catch (IOException e) {
            throw new JobData.InputException("cannot read the model's vocabulary in " + dir + ": " + e.getMessage(), e);
        }
        if (vocab.size() != spec.network().vocabulary()) {
            throw new JobData.InputException("the model " + dir + " has a vocabulary of " + vocab.size() + " words in "
                    + ModelDirectory.VOCABULARY + " but V = " + spec.network().vocabulary() + " in " + ModelDirectory.SPEC);
        }
        return vocab;
    }

    /** Experts active per token: 0, 1 (moe-1-wide) or k. */
    static int activeExperts(ModelDirectory.Spec spec) {
        return spec.recurrent().activeExperts(spec.network());
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
}
