package org.sparkmoe.app;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every setting of the job and the ML API, declared once: name, job key, type, rule, default and
 * documentation ({@link Setting}). {@link #reference()} writes {@code conf/moe-job.properties} from
 * it, and the ML params take their docs and defaults from it (the PySpark wrappers, generated from
 * the ML params, carry them on: {@code PySparkWrappersTest}); a test checks the reference file is
 * what the declaration produces ({@code SettingsTest}; {@code -Dsettings.write=true} rewrites it).
 * The evaluator's params ({@link #evaluatorParams()}) are declared apart: they share their names
 * with the language model's output columns but are inputs that must not be empty.
 *
 * <p>Where the two faces used different names for one thing, the job key now follows the param
 * ({@code model.experts} is {@code model.numExperts}); the old key is still accepted, with a
 * deprecation message. The defaults are the job's (the documented results were measured with
 * them).
 */
public final class Settings {
    private static final Map<String, Setting> BY_NAME = new LinkedHashMap<>();
    private static final Map<String, Setting> BY_JOB_KEY = new LinkedHashMap<>();
    private static final Map<String, Setting> BY_OLD_JOB_KEY = new LinkedHashMap<>();
    /** The params of MoEPerplexityEvaluator: named like the language model's output columns they read, declared apart. */
    private static final Map<String, Setting> EVALUATOR = new LinkedHashMap<>();

    /** What an automatic {@link #VOCABULARY_SIZE} (0) gives for text: up to this many ids (the usual size for word-level text). */
    public static final int TEXT_VOCABULARY = 10000;
    /** What an automatic {@link #VOCABULARY_SIZE} (0) gives for the built-in corpus: exactly this many ids (its results in the README). */
    public static final int BUILT_IN_VOCABULARY = 64;

    /** The vocabulary size {@link #VOCABULARY_SIZE} {@code configured} means: itself when set, else the automatic size for the data. */
    public static int vocabularySize(int configured, boolean builtInCorpus) {
        return configured != 0 ? configured : builtInCorpus ? BUILT_IN_VOCABULARY : TEXT_VOCABULARY;
    }

    private Settings() {
    }

    /** A declaration in progress. */
    private static final class D {
        final String name;
        final String jobKey;
        boolean param;
        Setting.Type type = Setting.Type.STRING;
        double min = Double.NaN;
        boolean minOpen;
        double max = Double.NaN;
        List<String> choices = List.of();
        boolean optional;
        String def = "";
        String allowed = "any value";
        List<String> old = List.of();
        String section;
        boolean evaluator;

        D(String name, String jobKey, boolean param) {
            this.name = name;
            this.jobKey = jobKey;
            this.param = param;
        }

        D integer(long min) {
            type = Setting.Type.INT;
            this.min = min;
            allowed = "an integer >= " + min;
            return this;
        }

        D longInt() {
            type = Setting.Type.LONG;
            allowed = "an integer";
            return this;
        }

        D number(double min, boolean open) {
            type = Setting.Type.DOUBLE;
            this.min = min;
            minOpen = open;
            allowed = "a number " + (open ? "> " : ">= ") + fmt(min);
            return this;
        }

        D range(double min, double max) {
            type = Setting.Type.DOUBLE;
            this.min = min;
            this.max = max;
            allowed = "a number in [" + fmt(min) + ", " + fmt(max) + "]";
            return this;
        }

        D bool() {
            type = Setting.Type.BOOLEAN;
            allowed = "true | false";
            return this;
        }

        D choice(String... values) {
            type = Setting.Type.CHOICE;
            choices = List.of(values);
            allowed = String.join(" | ", values);
            return this;
        }

        D optional() {
            optional = true;
            allowed = allowed + ", or empty";
            return this;
        }

        D allowed(String text) {
            allowed = text;
            return this;
        }

        D def(Object v) {
            def = String.valueOf(v);
            return this;
        }

        D was(String... oldKeys) {
            old = List.of(oldKeys);
            return this;
        }

        D section(String heading) {
            section = heading;
            return this;
        }

        Setting doc(String doc) {
            Setting s = new Setting(name, jobKey, param, type, min, minOpen, max, choices, optional, def, allowed, doc, old, section);
            if (evaluator) {
                if (EVALUATOR.put(name, s) != null) throw new IllegalStateException("evaluator param " + name + " declared twice");
                return s;
            }
            if (BY_NAME.put(name, s) != null) throw new IllegalStateException("setting " + name + " declared twice");
            if (jobKey != null) BY_JOB_KEY.put(jobKey, s);
            for (String o : old) BY_OLD_JOB_KEY.put(o, s);
            return s;
        }
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e9 ? Long.toString((long) d) : Double.toString(d);
    }

    /** A setting of both faces: job key {@code group.name}, param {@code name}. */
    private static D both(String group, String name) {
        return new D(name, group + "." + name, true);
    }

    private static D job(String key) {
        return new D(key, key, false);
    }

    private static D param(String name) {
        return new D(name, null, true);
    }

    private static D evaluatorParam(String name) {
        D d = new D(name, null, true);
        d.evaluator = true;
        return d;
    }

    // ================================================================== task + data (job)

    public static final Setting TASK = job("task").choice("lm", "classification", "regression").def("lm").section("task + data").doc(
            "What is learned. lm = next-token language model (the paper's task, reports perplexity); classification = class ids from"
            + " feature vectors (accuracy, log-loss); regression = real-valued targets from feature vectors (RMSE).");
    public static final Setting INPUT_PATH = job("input.path").allowed("paths or globs").doc(
            "Input data: a path or comma-separated paths/globs on any Hadoop filesystem. Empty = built-in data: for lm the synthetic"
            + " Markov-mixture corpus (synthetic.* keys); for regression a synthetic mixture of linear regimes (RegimeMixture)."
            + " Classification needs an input.");
    public static final Setting INPUT_FORMAT = job("input.format").choice("text", "parquet", "csv", "libsvm").def("text").doc(
            "Input format. text (lm: plain text files), parquet, csv, libsvm (features only). text is the default for lm (set it"
            + " for feature tasks).");
    public static final Setting INPUT_TEXT_COLUMN = job("input.textColumn").allowed("a column name").def("text").doc(
            "lm from parquet/CSV: the string column holding the documents.");
    public static final Setting INPUT_DOCUMENT_PER_FILE = job("input.documentPerFile").bool().def(false).doc(
            "lm from text files: true = each file is one document, false = each line is a document.");
    public static final Setting INPUT_LOWERCASE = job("input.lowercase").bool().def(true).doc("lm tokenizer: lower-case words.");
    public static final Setting INPUT_KEEP_PUNCTUATION = job("input.keepPunctuation").bool().def(false).doc(
            "lm tokenizer: keep punctuation marks as tokens (true) or drop them (false).");
    public static final Setting INPUT_STRIP_TAGS = job("input.stripTags").bool().def(false).doc(
            "lm: input is tagged text word/TAG (the Brown corpus format): drop the /TAG suffix of every token before tokenizing.");
    public static final Setting INPUT_LABEL_COLUMN = job("input.labelColumn").allowed("a column name").def("label").doc(
            "Feature tasks: the label/target column of a parquet or CSV table.");
    public static final Setting INPUT_FEATURE_COLUMNS = job("input.featureColumns").allowed("column names, comma-separated").doc(
            "Feature tasks: the feature columns, comma-separated (numeric columns), or one vector column (parquet). Empty = every"
            + " column except the label.");
    public static final Setting INPUT_WEIGHT_COLUMN = job("input.weightColumn").allowed("a column name, or empty").doc(
            "Feature tasks: a numeric column of example weights in a parquet or CSV table (finite, >= 0; the task loss is"
            + " sum w*L / sum w, as the ML API's weightCol; not a feature). The held-out metrics of the job stay unweighted. Empty"
            + " = every row weighs 1.");
    public static final Setting INPUT_HEADER = job("input.header").bool().def(true).doc("CSV: the first line is a header.");
    public static final Setting INPUT_NUM_FEATURES = job("input.numFeatures").integer(0).def(0).doc(
            "Feature tasks: the number of features (libsvm: required when the files do not reach the last index; 0 = infer).");
    public static final Setting INPUT_NUM_CLASSES = job("input.numClasses").integer(0).allowed("an integer >= 0 (0 = infer), not 1")
            .def(0).doc("Classification: the number of classes (0 = infer from the labels: max label + 1).");
    public static final Setting INPUT_PARTITIONS = job("input.partitions").integer(0).def(0).doc(
            "Partitions of the training data (0 = Spark's default parallelism).");
    public static final Setting HELDOUT_FRACTION = job("heldout.fraction").range(0, 0.9).def(0.1).doc(
            "Fraction of the documents (lm) or rows (features) held out for evaluation, chosen by a hash of the document/row id so"
            + " reruns agree.");
    public static final Setting HELDOUT_PATH = job("heldout.path").allowed("paths or globs").doc(
            "A fixed holdout data set (same format as input.path); empty = the heldout.fraction split of the input. When set,"
            + " training uses all of input.path and evaluates on all of this (language models with the training vocabulary). Needs"
            + " input.path. The retrain command evaluates every run on it, so set it for a fixed holdout across dates.");

    // ================================================================== built-in corpus (job)

    public static final Setting SYNTHETIC_DOMAINS = job("synthetic.domains").integer(1).def(4).section("built-in corpus").doc(
            "Domains (Markov sources) of the built-in corpus; a document is drawn from one domain.");
    public static final Setting SYNTHETIC_DOCUMENTS = job("synthetic.documents").integer(1).def(400).doc(
            "Documents in the built-in corpus.");
    public static final Setting SYNTHETIC_DOCUMENT_LENGTH = job("synthetic.documentLength").integer(2).def(100).doc(
            "Tokens per document of the built-in corpus.");
    public static final Setting SYNTHETIC_SEED = job("synthetic.seed").longInt().def(2017).doc(
            "Seed of the built-in corpus (its transition tables and documents).");
    public static final Setting SYNTHETIC_NOISE = job("synthetic.noise").number(0, true).def(0.1).doc(
            "Built-in regression data: noise standard deviation of the targets.");
    public static final Setting SYNTHETIC_EXAMPLES = job("synthetic.examples").integer(1).def(20000).doc(
            "Built-in regression data: examples.");

    // ================================================================== the model (both faces)

    public static final Setting GATING = both("model", "gating").choice("softmax", "noisyTopK", "hierarchical").def("noisyTopK")
            .section("the model").doc("Gating network: softmax (dense, all experts), noisyTopK (the paper's flat MoE, also written"
            + " noisy_top_k), hierarchical ({numGroups} x {expertsPerGroup} experts; {numExperts} and {k} are then ignored).");
    public static final Setting NUM_EXPERTS = both("model", "numExperts").integer(1).def(8).was("model.experts").doc(
            "n: number of experts of a flat gating (softmax, noisyTopK).");
    public static final Setting K = both("model", "k").integer(1).allowed("an integer in [1, number of experts]").def(2).doc(
            "k: experts per example of noisyTopK gating, in [1, {numExperts}] (k >= 2 recommended: with k = 1 the gate gets no"
            + " gradient from the task loss).");
    public static final Setting NUM_GROUPS = both("model", "numGroups").integer(1).def(4).was("model.groups").doc(
            "Hierarchical gating: a, the number of groups.");
    public static final Setting EXPERTS_PER_GROUP = both("model", "expertsPerGroup").integer(1).def(4).doc(
            "Hierarchical gating: b, experts per group.");
    public static final Setting K_PRIMARY = both("model", "kPrimary").integer(1).def(2).doc(
            "Hierarchical gating: groups per example, in [1, {numGroups}].");
    public static final Setting K_SECONDARY = both("model", "kSecondary").integer(1).def(2).doc(
            "Hierarchical gating: experts per example within a group, in [1, {expertsPerGroup}].");
    public static final Setting EXPERT_HIDDEN_SIZE = both("model", "expertHiddenSize").integer(1).def(64).was("model.expertHidden")
            .doc("h: hidden width of each expert (d -> h -> d).");
    public static final Setting MODEL_DIM = both("model", "modelDim").integer(1).def(32).doc(
            "d: width of the rows the MoE layer sees (features are projected to it, tokens embedded into it).");
    public static final Setting CONTEXT = both("model", "context").integer(1).def(3).doc(
            "Language models: tokens of context c (the model predicts token t from tokens t-c..t-1).");
    public static final Setting EMBEDDING_DIM = both("model", "embeddingDim").integer(1).def(16).doc(
            "Language models: token embedding width per context position.");
    public static final Setting COMBINE = job("model.combine").choice("concat", "sum").def("concat").doc(
            "lm: how the position embeddings combine.");
    public static final Setting VOCABULARY_SIZE = both("model", "vocabularySize").integer(0)
            .allowed("0 (automatic) or an integer >= 3 (<unk>, <eos> and at least one word)").def(0).doc(
            "Language models: vocabulary size V including the special tokens <unk> and <eos> (the V-2 most frequent words of the"
            + " training documents are kept, the rest map to <unk>). The built-in corpus uses exactly V words. 0 is automatic: up"
            + " to " + TEXT_VOCABULARY + " for text, " + BUILT_IN_VOCABULARY + " for the built-in corpus.");
    public static final Setting RESIDUAL = job("model.residual").bool().def(false).doc("y = x + MoE(x) instead of MoE(x).");
    public static final Setting W_IMPORTANCE = both("model", "wImportance").number(0, false).def(0.1).doc(
            "Weight of the importance (balance) loss w_importance (paper eq. 6).");
    public static final Setting W_LOAD = both("model", "wLoad").number(0, false).def(0.1).doc(
            "Weight of the load (balance) loss w_load (paper eq. 11).");

    // ================================================================== the recurrent language model

    public static final Setting LM_MODEL = new D("lmModel", "lm.model", true).choice("window", "lstm", "moe-1-wide", "lstm-moe")
            .def("window").section("the recurrent language model").doc("Language models: which model. window = the fixed-window"
            + " model (c = {context} previous tokens, the fast default); lstm-moe = the paper's recurrent model (section 5.1:"
            + " embedding -> LSTM -> MoE -> LSTM -> softmax, width d = {modelDim}, the MoE of {gating}, {numExperts}, {k} and"
            + " {expertHiddenSize} applied to every timestep); lstm = the same network without the MoE (LSTM-LSTM baseline of table"
            + " 7); moe-1-wide = one always-on expert of hidden k*{expertHiddenSize} (MoE-1-Wide baseline). The recurrent models"
            + " train with shuffle routing and score each document from a zero LSTM state, carrying the state through it (the"
            + " job's score writes every position's next-token probabilities, its top score.topK words).");
    public static final Setting LM_SEQ_LENGTH = both("lm", "seqLength").integer(1).def(20).doc(
            "Recurrent lm: T, tokens per window of truncated back-propagation through time (the LSTM state is carried across"
            + " windows of a document).");
    public static final Setting LM_STREAMS = both("lm", "streams").integer(1).def(16).doc(
            "Recurrent lm: S, sequences (document streams) per step; a step is S*T tokens ({batchSize} is not used), split"
            + " over min(S, data partitions) partitions. Needs at least S training documents.");
    public static final Setting LM_DROPOUT = both("lm", "dropout").range(0, 0.9).def(0.1).doc(
            "Recurrent lm: dropout rate on every layer's output but the softmax (with a residual connection around each layer).");

    // ================================================================== the engine

    public static final Setting ROUTING = both("engine", "routing").choice("auto", "shuffle", "local").def("auto").section("the engine").doc(
            "How examples reach their experts. shuffle = each expert runs on all its tokens from all partitions (the paper's fix for"
            + " the shrinking batch); local = every partition runs its own copy of the experts (no row shuffles; expert batches"
            + " shrink with the partitions); auto = local when the experts live on the driver and are small next to the rows"
            + " a step moves ((partitions + 1) x experts x expert parameters <= k x batch x modelDim), else shuffle. For the"
            + " recurrent models the batch is lm.streams x lm.seqLength rows, and local needs placement driver.");
    public static final Setting PLACEMENT = both("engine", "placement").choice("driver", "sharded").def("driver").doc(
            "Where expert parameters live while training. driver = broadcast from the driver; sharded = in an RDD on the"
            + " executors (the model can outgrow the driver; a fitted ML model then keeps them there).");
    public static final Setting EXPERT_SHARDS = both("engine", "expertShards").integer(1)
            .allowed("an integer in [1, number of experts]").def(2).doc(
            "Expert shards (partitions of the expert stage), in [1, number of experts].");
    public static final Setting BATCH_SIZE = both("engine", "batchSize").integer(0).allowed("an integer >= 0 (0 = data-sized)").def(0).doc(
            "Global mini-batch size B (examples per step over all partitions; tokens for the window language model). 0 = sized"
            + " from the training data: its examples / 64 rounded down to a multiple of 512, between 512 and 16384 (big batches"
            + " where the data has them, at least 64 steps an epoch; data of fewer than 512 examples needs a smaller B given"
            + " here). A number given here is used as it is. BENCHMARKS.md has the executor memory a batch needs. Not used by"
            + " the recurrent language models (their step is {streams} x {seqLength} tokens).");
    public static final Setting SHUFFLE_PAYLOAD = both("engine", "shufflePayload").choice("f32", "bf16").def("f32").doc(
            "How float32 rows cross the step's shuffles (shuffle routing): f32 = as they are; bf16 = as bfloat16, half the"
            + " shuffle bytes, accumulation stays float32 (BENCHMARKS.md has its measured effect on the loss).");
    public static final Setting PRECISION = job("engine.precision").choice("f32", "f64").def("f32").doc("Arithmetic precision.");

    // ================================================================== the optimiser

    public static final Setting STEP_SIZE = both("optim", "stepSize").number(0, true).def(0.01).was("optim.learningRate")
            .section("the optimiser").doc("Adam's base learning rate (the peak of the warm-up / inverse-square-root schedule).");
    public static final Setting WARMUP_STEPS = both("optim", "warmupSteps").integer(0).def(20).doc(
            "Warm-up steps of the learning-rate schedule (linear rise, then 1/sqrt(step) decay); 0 = a constant rate.");
    public static final Setting CLIP_NORM = both("optim", "clipNorm").number(0, false).allowed("a number >= 0 (0 = off)").def(1.0).doc(
            "Global-norm gradient clipping threshold, 0 = off.");
    public static final Setting MAX_STEPS = both("optim", "maxSteps").integer(0).def(100).was("optim.steps").doc(
            "Training steps: the total step count to reach (a resumed run continues up to it; a warm start trains this many more).");
    public static final Setting SEED = both("optim", "seed").longInt().def(1).doc(
            "Seed of initialisation, gating noise and batch sampling.");

    // ================================================================== outputs + runs

    public static final Setting OUTPUT_DIR = job("output.dir").allowed("a path").section("outputs + runs").doc(
            "Output directory of a run (any Hadoop filesystem path): checkpoints/, metrics.jsonl, expert-load.csv, run-spec.json,"
            + " summary.json and, when the run finishes, model/ (published atomically: built in a hidden temporary sibling, then"
            + " renamed). Rule for an existing output.dir: if it holds a model or an unfinished run with a DIFFERENT network spec,"
            + " train fails (exit 2) and touches nothing; with the same spec it resumes from its last checkpoint up to"
            + " {maxSteps} (a finished run trains no further), re-evaluates and replaces model/. Required for train.");
    public static final Setting CHECKPOINT_DIR = param("checkpointDir").doc(
            "Hadoop directory for training checkpoints (fit resumes from its latest); empty = none. The job checkpoints into"
            + " output.dir/checkpoints.");
    public static final Setting CHECKPOINT_INTERVAL = new D("checkpointInterval", "checkpoint.interval", true).integer(1).def(50).doc(
            "Steps between checkpoints (a checkpoint is also written at the end).");
    public static final Setting CHECKPOINT_KEEP = job("checkpoint.keep").integer(1).def(2).doc("Checkpoints kept.");
    public static final Setting PROGRESS_INTERVAL = job("progress.interval").integer(1).def(1).doc(
            "Console progress: print one line every this many steps (and the last).");
    public static final Setting CHARTS_ENABLED = job("charts.enabled").bool().def(true).doc(
            "Draw PNG charts (loss curve, expert load over time) into the model's charts/.");
    public static final Setting SCORE_EXPERTS = job("score.experts").bool().def(false).doc(
            "score: also write, per row, the chosen experts and their gate values.");
    public static final Setting SCORE_TOP_K = job("score.topK").integer(1).def(5).doc(
            "score of a recurrent language model (lm.model other than window): the most probable next words written per"
            + " position (topWords, topProbabilities).");
    public static final Setting INITIAL_MODEL_PATH = param("initialModelPath").doc(
            "Path of a saved model of the same shape to start training from (warm start); empty = fresh initialisation. The"
            + " job's retrain command warm-starts from the model retrain.root/LATEST names.");

    // ================================================================== retraining (job)

    public static final Setting BAR_MAX_PERPLEXITY = job("bar.maxPerplexity").number(0, true).optional().section("retraining (bar)")
            .doc("The evaluation bar a retrained model must pass to be published (retrain command); each bar applies to its task,"
            + " NaN/empty = no bar. lm: maximum held-out perplexity.");
    public static final Setting BAR_MIN_ACCURACY = job("bar.minAccuracy").range(0, 1).optional().doc(
            "classification: minimum held-out accuracy.");
    public static final Setting BAR_MAX_RMSE = job("bar.maxRmse").number(0, true).optional().doc("regression: maximum held-out RMSE.");
    public static final Setting RETRAIN_ROOT = job("retrain.root").allowed("a path").doc(
            "Publish root of the retrain command: it holds v-<date>/ model directories and the LATEST pointer file (the name of"
            + " the current version). Required for retrain.");
    public static final Setting RETRAIN_DATE = job("retrain.date").allowed("letters, digits, '-', '_', '.'").doc(
            "The run date of a retrain (the version name is v-<date>): letters, digits, '-', '_' and '.'. Required for retrain."
            + " Versions compare as text, so use one sortable format (yyyy-MM-dd): a date older than LATEST's is refused (exit 2)"
            + " unless retrain.force=true.");
    public static final Setting RETRAIN_FORCE = job("retrain.force").bool().def(false).doc(
            "retrain: allow a run date older than the version LATEST names (a backfill: it warm-starts from the newest published"
            + " version before it, and moves LATEST back to it when it passes the bar), and retrain a date that is already"
            + " published or was withdrawn by a rollback (it replaces that version).");
    public static final Setting ROLLBACK_TO = job("rollback.to").allowed("letters, digits, '-', '_', '.'").doc(
            "rollback: the published version under retrain.root that LATEST should name (v-<date>, or the date). Versions newer"
            + " than it are withdrawn (listed in retrain.root/WITHDRAWN): a retrain of their dates then needs retrain.force=true.");

    // ================================================================== evaluate / score / inspect (job)

    public static final Setting JOB_MODEL = job("job.model").allowed("a path").section("evaluate / score / inspect").doc(
            "The model for evaluate, score and inspect: a model directory, or a train output.dir holding model/. evaluate and"
            + " score read every row of heldout.path when it is set, else every row of input.path when it is set, else the"
            + " held-out split of the built-in data the model was trained on (with the model's synthetic.* settings and"
            + " heldout.fraction).");
    public static final Setting EVALUATE_OUTPUT = job("evaluate.output").allowed("a path").doc(
            "evaluate: where to write the metrics JSON (empty = <output.dir>/evaluation.json when output.dir is set, else only"
            + " printed).");
    public static final Setting SCORE_OUTPUT = job("score.output").allowed("a path").doc(
            "score: the parquet output path (written to a temporary sibling, then renamed). Required for score.");

    // ================================================================== columns (ML)

    public static final Setting FEATURES_COL = param("featuresCol").allowed("not empty").def("features").section("columns (ML)")
            .doc("Features column name (Vector).");
    public static final Setting LABEL_COL = param("labelCol").allowed("not empty").def("label").doc("Label column name (numeric).");
    public static final Setting PREDICTION_COL = param("predictionCol").def("prediction").doc(
            "Prediction column name; empty = not produced. The language model's defaults to empty; when set it names a string"
            + " column with the most probable next word after each document.");
    public static final Setting PROBABILITY_COL = param("probabilityCol").def("probability").doc(
            "Class probability column name (Vector); empty = not produced.");
    public static final Setting RAW_PREDICTION_COL = param("rawPredictionCol").def("rawPrediction").doc(
            "Raw prediction column name (Vector of log-probabilities); empty = not produced.");
    public static final Setting EXPERTS_COL = param("expertsCol").doc(
            "Column with each row's chosen experts and their gate values (array<struct<expert:int,gate:double>>); empty = not"
            + " produced.");
    public static final Setting VALIDATION_INDICATOR_COL = param("validationIndicatorCol").doc(
            "Boolean column marking held-out rows (true): fit trains on the other rows and puts the fitted model's metrics on"
            + " these in its training summary; empty = train on every row.");
    public static final Setting WEIGHT_COL = param("weightCol").doc(
            "Classifier and regressor: column of example weights (numeric, finite, >= 0; MLlib's weightCol). The task loss is"
            + " sum w*L / sum w: weight 2 counts a row twice, weight 0 not at all; the balance losses count rows unweighted. Held-out"
            + " metrics are weighted too. Empty = every row weighs 1.");
    public static final Setting TEXT_COL = param("textCol").allowed("not empty").def("text").doc(
            "Column of documents (string; null = empty document).");
    public static final Setting LOG_LIKELIHOOD_COL = param("logLikelihoodCol").def("logLikelihood").doc(
            "Column with each document's sum over its targets (its tokens then <eos>) of ln p(target | c previous tokens); empty"
            + " = not produced.");
    public static final Setting PERPLEXITY_COL = param("perplexityCol").def("perplexity").doc(
            "Column with exp(-logLikelihood / numTargets), NaN for an empty document; empty = not produced.");
    public static final Setting NUM_TARGETS_COL = param("numTargetsCol").def("numTargets").doc(
            "Column with the number of predicted targets of each document (tokens + 1, 0 when empty); empty = not produced.");

    // ================================================================== MoEPerplexityEvaluator (ML)

    public static final Setting EVALUATOR_LOG_LIKELIHOOD_COL = evaluatorParam("logLikelihoodCol").allowed("not empty")
            .def("logLikelihood").doc("Input column with each document's summed ln p of its targets (a MoELanguageModel's"
            + " {logLikelihoodCol}); must not be empty.");
    public static final Setting EVALUATOR_NUM_TARGETS_COL = evaluatorParam("numTargetsCol").allowed("not empty")
            .def("numTargets").doc("Input column with each document's number of predicted targets (a MoELanguageModel's"
            + " {numTargetsCol}); must not be empty.");

    // ================================================================== lookup

    /** Every setting, in declaration (= documentation) order. */
    public static List<Setting> all() {
        return Collections.unmodifiableList(new ArrayList<>(BY_NAME.values()));
    }

    /** The params of {@code MoEPerplexityEvaluator}, in documentation order. */
    public static List<Setting> evaluatorParams() {
        return List.copyOf(EVALUATOR.values());
    }

    /** The setting of a canonical name. */
    public static Setting byName(String name) {
        Setting s = BY_NAME.get(name);
        if (s == null) throw new IllegalArgumentException("no setting named '" + name + "'");
        return s;
    }

    /** The setting of a canonical name, or null. */
    public static Setting find(String name) {
        return BY_NAME.get(name);
    }

    /** The setting of a current job key, or null. */
    public static Setting byJobKey(String key) {
        return BY_JOB_KEY.get(key);
    }

    /** The setting an old (deprecated) job key now means, or null. */
    public static Setting byOldJobKey(String key) {
        return BY_OLD_JOB_KEY.get(key);
    }

    /** The job's keys, in documentation order. */
    public static List<String> jobKeys() {
        return new ArrayList<>(BY_JOB_KEY.keySet());
    }

    // ================================================================== generated texts

    private static final String HEADER = """
            # spark-moe job configuration: every key the job (org.sparkmoe.job.MoEJob) reads, with its default.
            #
            # GENERATED from the one declaration of the settings (org.sparkmoe.app.Settings), which also gives the
            # ML params (org.sparkmoe.ml) and the PySpark wrappers their docs and defaults; do not edit by hand.
            # Use it as a template for --config FILE. The job starts from these defaults, then applies the files
            # given with --config FILE (or config=FILE), then key=value / --conf key=value arguments on the command
            # line; later settings win. A key not listed here is an error (with a suggestion of the closest known
            # key), as is a value of the wrong type or out of range. Keys of earlier versions (model.experts,
            # model.groups, model.expertHidden, optim.learningRate, optim.steps) are still accepted, with a
            # deprecation message; a key and its ML param share one name and one default (model.numExperts is the
            # param numExperts, checkpoint.interval is checkpointInterval).
            # Format: java.util.Properties; the comment block above each key says what it means, the values
            # allowed and its default.
            """;

    /** The job's reference file {@code conf/moe-job.properties}. */
    public static String reference() {
        StringBuilder sb = new StringBuilder(HEADER);
        for (Setting s : BY_NAME.values()) {
            if (s.jobKey() == null) continue;
            if (s.section() != null) {
                String h = " " + s.section();
                sb.append("\n# ").append("-".repeat(Math.max(4, 98 - h.length()))).append(h).append('\n');
            }
            String text = s.doc(Setting.Face.JOB) + " Allowed: " + s.allowed() + ". Default: "
                    + (s.defaultValue().isEmpty() ? "empty" : s.defaultValue()) + "."
                    + (s.oldJobKeys().isEmpty() ? "" : " Formerly " + String.join(", ", s.oldJobKeys()) + ".");
            sb.append('\n');
            for (String line : wrap(text, 98)) sb.append("# ").append(line).append('\n');
            sb.append(s.jobKey()).append(" =").append(s.defaultValue().isEmpty() ? "" : " " + s.defaultValue()).append('\n');
        }
        return sb.toString();
    }

    private static List<String> wrap(String text, int width) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (String w : text.split(" ")) {
            if (line.length() > 0 && line.length() + 1 + w.length() > width) {
                lines.add(line.toString());
                line.setLength(0);
            }
            if (line.length() > 0) line.append(' ');
            line.append(w);
        }
        if (line.length() > 0) lines.add(line.toString());
        return lines;
    }
}
