package org.sparkmoe.job;

import org.sparkmoe.app.ModelDirectory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.synthetic.RegimeMixture;
import org.sparkmoe.core.network.RowBlock;

/**
 * The data of a job: training and held-out row blocks (generated or read on the executors, never
 * collected), the shape the network needs, and what the model directory records about it.
 */
final class JobData {
    /** Rows per generated block. */
    static final int BLOCK_ROWS = 512;
    /** Token ids of the special tokens (as org.sparkmoe.data.Vocabulary): padding and end of document use eos. */
    static final int UNK = 0, EOS = 1, SPECIALS = 2;
    /** Shape of the built-in regression data. */
    static final int REGRESSION_INPUTS = 8, REGRESSION_OUTPUTS = 2;

    final JavaRDD<RowBlock> train;
    final JavaRDD<RowBlock> heldout;
    final int vocabulary, inputDim, outputs;
    final Map<String, String> metadata;
    /** The built-in corpus (lm), for the entropy floor and specialisation; null otherwise. */
    final MarkovMixtureCorpus corpus;
    final int context;
    final double heldoutFraction;
    final org.sparkmoe.data.Vocabulary vocab;
    /** Text data: the out-of-vocabulary rate of each part read ("train", "heldout"), for the summary. */
    final Map<String, Double> outOfVocabulary = new LinkedHashMap<>();
    /** What the job should print as warnings (a part mostly out of vocabulary). */
    final List<String> warnings = new ArrayList<>();

    private JobData(JavaRDD<RowBlock> train, JavaRDD<RowBlock> heldout, int vocabulary, int inputDim, int outputs,
                    Map<String, String> metadata, MarkovMixtureCorpus corpus, int context, double heldoutFraction, org.sparkmoe.data.Vocabulary vocab) {
        this.train = train;
        this.heldout = heldout;
        this.vocabulary = vocabulary;
        this.inputDim = inputDim;
        this.outputs = outputs;
        this.metadata = metadata;
        this.corpus = corpus;
        this.context = context;
        this.heldoutFraction = heldoutFraction;
        this.vocab = vocab;
    }

    /** Bad input data: exit code 2, with a message naming the file, row, column or key. */
    static final class InputException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        InputException(String message) {
            super(message);
        }

        InputException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Loads the data the configuration names. {@code model} (may be null) is a saved model whose
     * data description (vocabulary, feature count) must be reused, as for evaluate, score and warm starts.
     */
    static JobData load(JavaSparkContext sc, JobConfig cfg, ModelDirectory.Spec model) {
        return load(sc, cfg, model, null);
    }

    /** As above; {@code modelDir} holds the saved model's vocabulary (language models read from text). */
    static JobData load(JavaSparkContext sc, JobConfig cfg, ModelDirectory.Spec model, org.apache.hadoop.fs.Path modelDir) {
        JobConfig.TaskKind task = cfg.task();
        String input = cfg.string("input.path");
        int partitions = cfg.integer("input.partitions") > 0 ? cfg.integer("input.partitions") : sc.defaultParallelism();
        double fraction = cfg.number("heldout.fraction");
        String heldoutPath = heldoutPath(cfg);
        if (!input.isEmpty() && !heldoutPath.isEmpty()) {
            JobData main = readInput(sc, cfg, model, modelDir, "input.path", input, partitions, 0.0, null);
            JobData held = readInput(sc, cfg, model, modelDir, "heldout.path", heldoutPath, partitions, 0.0, main);
            Map<String, String> meta = new LinkedHashMap<>(main.metadata);
            meta.put("heldout.path", heldoutPath);
            JobData both = new JobData(main.train, held.train, main.vocabulary, main.inputDim, main.outputs, meta, null, main.context, 0.0,
                    main.vocab);
            if (main.outOfVocabulary.containsKey("train")) both.outOfVocabulary.put("train", main.outOfVocabulary.get("train"));
            if (held.outOfVocabulary.containsKey("train")) both.outOfVocabulary.put("heldout", held.outOfVocabulary.get("train"));
            both.warnings.addAll(main.warnings);
            if (!heldoutPath.equals(input)) both.warnings.addAll(held.warnings);
            return both;
        }
        if (!input.isEmpty()) return readInput(sc, cfg, model, modelDir, "input.path", input, partitions, fraction, null);
        return switch (task) {
            case LM -> builtInCorpus(sc, cfg, model, partitions, fraction);
            case REGRESSION -> builtInRegression(sc, cfg, partitions, fraction);
            case CLASSIFICATION -> throw new InputException("config key 'input.path' must be set for task=classification "
                    + "(there is no built-in classification data)");
        };
    }

    /** heldout.path, which needs input.path (the built-in data has its own held-out split). */
    static String heldoutPath(JobConfig cfg) {
        String heldoutPath = cfg.string("heldout.path");
        if (!heldoutPath.isEmpty() && cfg.string("input.path").isEmpty()) {
            throw new JobConfig.ConfigException("config key 'heldout.path' = '" + heldoutPath + "' needs input.path (the built-in "
                    + "data has its own held-out split)");
        }
        return heldoutPath;
    }

    /** Reads {@code input} (named by config key {@code key}); {@code like}: reuse its vocabulary / feature and class counts. */
    private static JobData readInput(JavaSparkContext sc, JobConfig cfg, ModelDirectory.Spec model, org.apache.hadoop.fs.Path modelDir,
                                     String key, String input, int partitions, double fraction, JobData like) {
        JobConfig.TaskKind task = cfg.task();
        {
            checkInputExists(sc, input, key);
            try {
                return task == JobConfig.TaskKind.LM ? textCorpus(sc, cfg, model, modelDir, key, input, partitions, fraction, like)
                        : features(sc, cfg, model, input, fraction, like);
            } catch (InputException | JobConfig.ConfigException e) {
                throw e;
            } catch (IllegalArgumentException e) {
                throw new InputException("bad input " + input + " (config key '" + key + "'): " + e.getMessage(), e);
            } catch (org.apache.spark.SparkException e) {
                Throwable c = e;
                while (c.getCause() != null && !(c instanceof IllegalArgumentException)) c = c.getCause();
                if (c instanceof IllegalArgumentException) {
                    throw new InputException("bad input " + input + " (config key '" + key + "'): " + c.getMessage(), e);
                }
                throw new IllegalStateException(e);
            }
        }
    }

    private static org.apache.spark.sql.SparkSession spark() {
        return org.apache.spark.sql.SparkSession.builder().getOrCreate();
    }

    private static JobData textCorpus(JavaSparkContext sc, JobConfig cfg, ModelDirectory.Spec model, org.apache.hadoop.fs.Path modelDir,
                                      String key, String input, int partitions, double fraction, JobData like) throws org.apache.spark.SparkException {
        org.apache.spark.api.java.JavaPairRDD<String, String> docs = textDocuments(sc, cfg, input, partitions);
        org.sparkmoe.data.Tokenizer tok = tokenizer(cfg);
        org.sparkmoe.data.Vocabulary vocab;
        int c;
        if (like != null) {
            vocab = like.vocab;
            c = like.context;
        } else if (model != null) {
            if (modelDir == null) throw new IllegalStateException("the model's directory is needed for its vocabulary");
            try {
                vocab = org.sparkmoe.data.Vocabulary.load(ModelDirectory.vocabularyFile(modelDir, sc.hadoopConfiguration()).toString(),
                        sc.hadoopConfiguration());
            } catch (java.io.IOException e) {
                throw new InputException("cannot read the model's vocabulary in " + modelDir + ": " + e.getMessage(), e);
            }
            c = model.network().context();
        } else {
            vocab = org.sparkmoe.data.Vocabulary.build(docs.values(), tok,
                    org.sparkmoe.app.Settings.vocabularySize(cfg.integer("model.vocabularySize"), false));
            c = cfg.integer("model.context");
        }
        if (vocab.size() < JobConfig.MIN_VOCABULARY) {
            throw new InputException("input " + input + " (config key 'input.path') gives a vocabulary of " + vocab.size()
                    + " ids: no words besides <unk> and <eos>");
        }
        org.sparkmoe.data.LanguageModelData lm = new org.sparkmoe.data.LanguageModelData(vocab, tok, c)
                .withHeldOut(fraction, cfg.longValue("synthetic.seed")).withBlockSize(BLOCK_ROWS);
        org.sparkmoe.data.LanguageModelData.Examples ex = lm.examples(docs);
        if (ex.count(org.sparkmoe.data.LanguageModelData.Part.TRAIN) == 0) {
            throw new InputException("input " + input + " (config key 'input.path') has no training examples (empty documents?)");
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("data", "text");
        meta.put("input.path", input);
        meta.put("input.format", cfg.string("input.format"));
        meta.put("vocabulary", Integer.toString(vocab.size()));
        meta.put("vocabularyFile", ModelDirectory.VOCABULARY);
        meta.put("examples", Long.toString(ex.totalExamples()));
        meta.put("heldout.fraction", Double.toString(fraction));
        JobData d = new JobData(ex.blocks(org.sparkmoe.data.LanguageModelData.Part.TRAIN),
                ex.blocks(org.sparkmoe.data.LanguageModelData.Part.HELD_OUT), vocab.size(), 0, vocab.size(), meta, null, c, fraction, vocab);
        d.outOfVocabulary.put("train", ex.outOfVocabularyRate(org.sparkmoe.data.LanguageModelData.Part.TRAIN));
        ex.outOfVocabularyWarning(org.sparkmoe.data.LanguageModelData.Part.TRAIN, key + " " + input).ifPresent(d.warnings::add);
        if (fraction > 0) {
            d.outOfVocabulary.put("heldout", ex.outOfVocabularyRate(org.sparkmoe.data.LanguageModelData.Part.HELD_OUT));
            ex.outOfVocabularyWarning(org.sparkmoe.data.LanguageModelData.Part.HELD_OUT, "the held-out split of " + key + " " + input)
                    .ifPresent(d.warnings::add);
        }
        d.outOfVocabulary.values().removeIf(r -> Double.isNaN(r));
        return d;
    }

    /** The documents of a text input (id, text) in the configured format, tags stripped when asked; persisted. */
    static org.apache.spark.api.java.JavaPairRDD<String, String> textDocuments(JavaSparkContext sc, JobConfig cfg, String input,
                                                                              int partitions) {
        org.apache.spark.api.java.JavaPairRDD<String, String> docs = switch (cfg.string("input.format")) {
            case "text" -> org.sparkmoe.data.TextSource.textFiles(sc, input, cfg.bool("input.documentPerFile")
                    ? org.sparkmoe.data.TextSource.DocumentMode.FILE : org.sparkmoe.data.TextSource.DocumentMode.LINE, partitions);
            case "parquet" -> org.sparkmoe.data.TextSource.parquet(spark(), input, cfg.string("input.textColumn"));
            case "csv" -> org.sparkmoe.data.TextSource.csv(spark(), input, cfg.string("input.textColumn"), cfg.bool("input.header"));
            default -> throw new JobConfig.ConfigException("config key 'input.format' = '" + cfg.string("input.format")
                    + "' cannot hold text for task=lm (use text, parquet or csv)");
        };
        if (cfg.bool("input.stripTags")) docs = docs.mapValues(JobData::stripTags);
        return docs.persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
    }

    /** The job's tokenizer (input.lowercase, input.keepPunctuation). */
    static org.sparkmoe.data.Tokenizer tokenizer(JobConfig cfg) {
        return new org.sparkmoe.data.Tokenizer(cfg.bool("input.lowercase"),
                cfg.bool("input.keepPunctuation") ? org.sparkmoe.data.Tokenizer.Punctuation.SPLIT : org.sparkmoe.data.Tokenizer.Punctuation.DROP);
    }

    private static final java.util.regex.Pattern TAG = java.util.regex.Pattern.compile("(\\S)/[^\\s/]+(?=\\s|$)");

    /** "The/at jury/nn ./." -> "The jury ." (word/TAG tokens, as in the Brown corpus). */
    static String stripTags(String text) {
        return TAG.matcher(text).replaceAll("$1");
    }

    private static JobData features(JavaSparkContext sc, JobConfig cfg, ModelDirectory.Spec model, String input, double fraction,
                                    JobData like) {
        org.sparkmoe.data.FeatureSource.Format fmt = switch (cfg.string("input.format")) {
            case "libsvm" -> org.sparkmoe.data.FeatureSource.Format.LIBSVM;
            case "parquet" -> org.sparkmoe.data.FeatureSource.Format.PARQUET;
            case "csv" -> org.sparkmoe.data.FeatureSource.Format.CSV;
            default -> throw new JobConfig.ConfigException("config key 'input.format' = '" + cfg.string("input.format")
                    + "' is not a feature format for task=" + cfg.string("task") + " (use libsvm, parquet or csv)");
        };
        List<String> paths = new ArrayList<>();
        for (String p : input.split(",")) if (!p.isBlank()) paths.add(p.trim());
        org.sparkmoe.data.FeatureSource src = org.sparkmoe.data.FeatureSource.of(fmt, paths.toArray(new String[0])).blockSize(BLOCK_ROWS);
        String label = cfg.string("input.labelColumn");
        src = cfg.task() == JobConfig.TaskKind.CLASSIFICATION ? src.classification(label) : src.regression(label);
        src = src.weightColumn(cfg.string("input.weightColumn"));
        List<String> cols = cfg.list("input.featureColumns");
        if (cols.size() == 1 && fmt != org.sparkmoe.data.FeatureSource.Format.CSV) src = src.vectorColumn(cols.get(0));
        else if (!cols.isEmpty()) src = src.featureColumns(cols.toArray(new String[0]));
        int nf = like != null ? like.inputDim : model != null ? model.network().inputDim() : cfg.integer("input.numFeatures");
        if (nf > 0) src = src.numFeatures(nf);
        boolean cls = cfg.task() == JobConfig.TaskKind.CLASSIFICATION;
        int nc = like != null && cls ? like.outputs : model != null && cls ? model.network().outputs() : cfg.integer("input.numClasses");
        if (nc > 0 && cfg.task() == JobConfig.TaskKind.CLASSIFICATION) src = src.numClasses(nc);
        org.sparkmoe.data.FeatureTable table = src.read(spark());
        if (model != null && table.numFeatures() != model.network().inputDim()) {
            throw new InputException("input " + input + " has " + table.numFeatures() + " features, the model expects "
                    + model.network().inputDim());
        }
        org.sparkmoe.data.FeatureSplit split = table.split(fraction, cfg.longValue("synthetic.seed"));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("data", "features");
        meta.put("input.path", input);
        meta.put("input.format", cfg.string("input.format"));
        meta.put("numFeatures", Integer.toString(table.numFeatures()));
        meta.put("outputs", Integer.toString(table.outputs()));
        if (cfg.task() == JobConfig.TaskKind.CLASSIFICATION) meta.put("classes", Integer.toString(table.numClasses()));
        meta.put("rows", Long.toString(table.numRows()));
        meta.put("heldout.fraction", Double.toString(fraction));
        int outputs = like != null ? like.outputs : model != null ? model.network().outputs() : table.outputs();
        return new JobData(split.train().blocks(), split.heldOut().blocks(), 0, table.numFeatures(), outputs, meta, null, 0, fraction, null);
    }

    static void checkInputExists(JavaSparkContext sc, String input) {
        checkInputExists(sc, input, "input.path");
    }

    static void checkInputExists(JavaSparkContext sc, String input, String key) {
        for (String p : input.split(",")) {
            if (p.isBlank()) continue;
            try {
                org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path(p.trim());
                org.apache.hadoop.fs.FileSystem fs = path.getFileSystem(sc.hadoopConfiguration());
                org.apache.hadoop.fs.FileStatus[] st = fs.globStatus(path);
                if (st == null || st.length == 0) {
                    throw new InputException("input file " + p.trim() + " (config key '" + key + "') does not exist");
                }
            } catch (java.io.IOException e) {
                throw new InputException("cannot read input " + p.trim() + " (config key '" + key + "'): " + e.getMessage(), e);
            }
        }
    }

    // --------------------------------------------------------------- built-in corpus

    static MarkovMixtureCorpus corpus(JobConfig cfg, int vocabulary) {
        return new MarkovMixtureCorpus(vocabulary - SPECIALS, cfg.integer("synthetic.domains"), Math.min(4, vocabulary - SPECIALS), 0.02,
                cfg.integer("synthetic.documentLength"), null, cfg.longValue("synthetic.seed"));
    }

    /** Held out: a deterministic hash of the document index (reruns agree). */
    static boolean isHeldout(long doc, long seed, double fraction) {
        long h = doc * 0x9E3779B97F4A7C15L ^ (seed + 0x632BE59BD9B4E019L);
        h ^= h >>> 33;
        h *= 0xFF51AFD7ED558CCDL;
        h ^= h >>> 33;
        return (h >>> 11) * 0x1.0p-53 < fraction;
    }

    private static JobData builtInCorpus(JavaSparkContext sc, JobConfig cfg, ModelDirectory.Spec model, int partitions, double fraction) {
        int v = model != null ? model.network().vocabulary() : org.sparkmoe.app.Settings.vocabularySize(cfg.integer("model.vocabularySize"), true);
        int c = model != null ? model.network().context() : cfg.integer("model.context");
        MarkovMixtureCorpus corpus = corpus(cfg, v);
        long docs = cfg.longValue("synthetic.documents");
        JavaRDD<RowBlock> train = corpusBlocks(sc, corpus, docs, partitions, c, fraction, false);
        JavaRDD<RowBlock> held = corpusBlocks(sc, corpus, docs, partitions, c, fraction, true);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("data", "built-in Markov-mixture corpus");
        meta.put("synthetic.domains", cfg.string("synthetic.domains"));
        meta.put("synthetic.documents", cfg.string("synthetic.documents"));
        meta.put("synthetic.documentLength", cfg.string("synthetic.documentLength"));
        meta.put("synthetic.seed", cfg.string("synthetic.seed"));
        meta.put("vocabulary", Integer.toString(v));
        meta.put("heldout.fraction", Double.toString(fraction));
        List<String> words = new ArrayList<>();
        for (int i = 0; i < v - SPECIALS; i++) words.add(corpus.word(i));
        return new JobData(train, held, v, 0, v, meta, corpus, c, fraction, org.sparkmoe.data.Vocabulary.of(words, null));
    }

    private static JavaRDD<RowBlock> corpusBlocks(JavaSparkContext sc, MarkovMixtureCorpus corpus, long docs, int partitions, int c,
                                                  double fraction, boolean heldout) {
        List<Integer> parts = new ArrayList<>();
        for (int p = 0; p < partitions; p++) parts.add(p);
        return sc.parallelize(parts, partitions).flatMap(p -> {
            Map<String, Integer> ids = wordIds(corpus);
            List<RowBlock> out = new ArrayList<>();
            Rows rows = new Rows(c);
            for (long d = p; d < docs; d += partitions) {
                if (isHeldout(d, corpus.seed(), fraction) != heldout) continue;
                rows.addDocument(d, tokens(corpus.document(d).text(), ids));
                if (rows.size() >= BLOCK_ROWS) out.add(rows.flush());
            }
            if (rows.size() > 0) out.add(rows.flush());
            return out.iterator();
        });
    }

    static Map<String, Integer> wordIds(MarkovMixtureCorpus corpus) {
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < corpus.vocabularySize(); i++) ids.put(corpus.word(i), i + SPECIALS);
        return ids;
    }

    static int[] tokens(String text, Map<String, Integer> ids) {
        String[] w = text.split(" ");
        int[] t = new int[w.length];
        for (int i = 0; i < w.length; i++) t[i] = ids.getOrDefault(w[i], UNK);
        return t;
    }

    /** Language-model examples of documents: every next token (then eos) from c previous ones (eos-padded). */
    static final class Rows {
        private final int c;
        private final List<Long> ids = new ArrayList<>();
        private final List<int[]> contexts = new ArrayList<>();
        private final List<Integer> labels = new ArrayList<>();

        Rows(int c) {
            this.c = c;
        }

        int size() {
            return ids.size();
        }

        void addDocument(long doc, int[] tokens) {
            for (int t = 0; t <= tokens.length; t++) {
                int[] ctx = new int[c];
                for (int j = 0; j < c; j++) {
                    int at = t - c + j;
                    ctx[j] = at < 0 ? EOS : tokens[at];
                }
                // example id: document index and position (documents up to 2^24 words)
                ids.add((doc << 24) | t);
                contexts.add(ctx);
                labels.add(t < tokens.length ? tokens[t] : EOS);
            }
        }

        RowBlock flush() {
            int m = ids.size();
            long[] id = new long[m];
            int[] tok = new int[m * c];
            int[] lab = new int[m];
            for (int i = 0; i < m; i++) {
                id[i] = ids.get(i);
                System.arraycopy(contexts.get(i), 0, tok, i * c, c);
                lab[i] = labels.get(i);
            }
            ids.clear();
            contexts.clear();
            labels.clear();
            return RowBlock.ofTokens(id, c, tok, lab);
        }
    }

    // --------------------------------------------------------------- built-in regression

    private static JobData builtInRegression(JavaSparkContext sc, JobConfig cfg, int partitions, double fraction) {
        int regimes = cfg.integer("synthetic.domains");
        double noise = cfg.number("synthetic.noise");
        long seed = cfg.longValue("synthetic.seed");
        long examples = cfg.longValue("synthetic.examples");
        long blocks = (examples + BLOCK_ROWS - 1) / BLOCK_ROWS;
        List<Long> idx = new ArrayList<>();
        for (long b = 0; b < blocks; b++) idx.add(b);
        JavaRDD<Long> blockIds = sc.parallelize(idx, partitions);
        JavaRDD<RowBlock> train = blockIds.map(b -> regressionBlock(regimes, noise, seed, b, fraction, false));
        JavaRDD<RowBlock> held = blockIds.map(b -> regressionBlock(regimes, noise, seed, b, fraction, true));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("data", "built-in regime mixture (regression)");
        meta.put("synthetic.domains", Integer.toString(regimes));
        meta.put("synthetic.noise", Double.toString(noise));
        meta.put("synthetic.seed", Long.toString(seed));
        meta.put("synthetic.examples", Long.toString(examples));
        meta.put("heldout.fraction", Double.toString(fraction));
        meta.put("numFeatures", Integer.toString(REGRESSION_INPUTS));
        meta.put("outputs", Integer.toString(REGRESSION_OUTPUTS));
        return new JobData(train, held, 0, REGRESSION_INPUTS, REGRESSION_OUTPUTS, meta, null, 0, fraction, null);
    }

    private static RowBlock regressionBlock(int regimes, double noise, long seed, long b, double fraction, boolean heldout) {
        Batch all = new RegimeMixture(REGRESSION_INPUTS, REGRESSION_OUTPUTS, regimes, noise, seed).batch(BLOCK_ROWS, b, Precision.F32);
        RowBlock block = RowBlock.of(all);
        int[] keep = new int[all.size()];
        int n = 0;
        for (int r = 0; r < all.size(); r++) if (isHeldout(all.exampleIds()[r], seed, fraction) == heldout) keep[n++] = r;
        int[] which = new int[n];
        return RowBlock.of(RowBlock.select(new RowBlock[] {block}, which, keep, 0, n, Precision.F32));
    }
}
