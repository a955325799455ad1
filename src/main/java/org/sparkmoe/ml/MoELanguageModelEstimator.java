package org.sparkmoe.ml;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.Tokenizer;
import org.sparkmoe.data.Vocabulary;

import scala.Tuple2;

/**
 * Sparsely-gated mixture-of-experts language model over a string column of documents (textCol),
 * trained data-parallel on Spark; fits a {@link MoELanguageModel}.
 *
 * <p>fit(): tokenizes with {@link Tokenizer#defaults()} (lower case, punctuation split off); builds
 * the {@link Vocabulary} of the {@code vocabularySize - 2} most frequent words on the cluster (only
 * the chosen words reach the driver; a warm start reuses the initial model's vocabulary instead);
 * turns every document into next-token examples with {@link LanguageModelData} on the executors (a
 * counting job first fixes the example ids: document order, i.e. the input's partitions and order, so
 * training is deterministic for a deterministic input order and seed); trains {@code maxSteps} steps
 * with the Spark engine. Nothing of the corpus is collected. Network: token-context embedding
 * ({@code context} positions of width {@code embeddingDim}, concatenated, projected to modelDim),
 * the MoE layer of the shared params, a softmax over the vocabulary.
 *
 * <p>Warm start: {@link #setInitialModelPath} (persisted) or {@link #setInitialModel} (in memory,
 * takes precedence); the initial model's vocabulary is kept.
 *
 * <p>With lmModel lstm, moe-1-wide or lstm-moe it fits the paper's recurrent model instead (section
 * 5.1, table 7's baselines; {@link RecurrentFitting}): the documents with a token, in input order, by
 * S = streams sequences in windows of T = seqLength tokens on the sequence engine; a warm start
 * takes the initial model's parameters (same lmModel and shape; fresh optimiser state, step 0).
 */
public final class MoELanguageModelEstimator extends Estimator<MoELanguageModel>
        implements MoELanguageModelParams<MoELanguageModelEstimator>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final LmParamSet lm;
    private InitialModel<MoELanguageModel> initial = new InitialModel<>();

    public MoELanguageModelEstimator(String uid) {
        this.uid = uid;
        this.ps = new MoEParamSet(uid);
        this.lm = new LmParamSet(uid);
        moeParams().applyDefaults(this, false);
        setDefault(moeParams().predictionCol, "");
        lm.applyDefaults(this);
    }

    public MoELanguageModelEstimator() {
        this(Identifiable$.MODULE$.randomUID("moeLanguageModel"));
    }

    @Override
    public String uid() {
        return uid;
    }

    @Override
    public MoEParamSet moeParams() {
        return ps;
    }

    @Override
    public LmParamSet lmParams() {
        return lm;
    }

    /** Warm start from a fitted model held in memory (not saved with the estimator). */
    public MoELanguageModelEstimator setInitialModel(MoELanguageModel model) {
        initial.set(model);
        return this;
    }

    public MoELanguageModel getInitialModel() {
        return initial.get();
    }

    @Override
    public MoELanguageModelEstimator copy(ParamMap extra) {
        MoELanguageModelEstimator c = defaultCopy(extra);
        c.initial = initial.copy();
        return c;
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ParamsWriter(this);
    }

    @Override
    public String toString() {
        return Describe.estimator(this) + ", vocabularySize=" + getVocabularySize() + ", context=" + getContext();
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.outputSchema(schema, this);
    }

    @Override
    public MoELanguageModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        return Fitting.instrumented(this, dataset, (instr, fit) -> train(dataset, fit, instr));
    }

    private MoELanguageModel train(Dataset<?> dataset, Fitting.FitContext fit, org.apache.spark.ml.util.Instrumentation instr) {
        MoELanguageModel init = getInitialModel();
        String where = init == null ? null : "initialModel " + init.uid();
        if (init == null && !getInitialModelPath().isEmpty()) {
            init = MoELanguageModel.load(getInitialModelPath());
            where = getInitialModelPath();
        }
        String col = getTextCol();
        Dataset<?>[] parts = HeldOut.split(dataset, getValidationIndicatorCol());
        JavaRDD<String> texts = parts[0].select(functions.col(col)).toJavaRDD()
                .map(r -> r.isNullAt(0) ? "" : r.getString(0))
                .persist(StorageLevel.MEMORY_AND_DISK());
        try {
            Tokenizer tokenizer = Tokenizer.defaults();
            if (init != null && !init.getLmModel().equals(getLmModel())) {
                throw new IllegalArgumentException("param initialModelPath: the model at " + where + " is lmModel " + init.getLmModel()
                        + ", these params say " + getLmModel());
            }
            Vocabulary vocabulary = init != null ? init.vocabulary() : Vocabulary.build(texts, tokenizer,
                    org.sparkmoe.app.Settings.vocabularySize(getVocabularySize(), false));
            if (isRecurrent()) {
                instr.logNamedValue("vocabularySize", vocabulary.size());
                RecurrentFitting.Trained t = RecurrentFitting.train(dataset, this, texts, vocabulary,
                        init == null ? null : init.parameters(), where, fit, instr);
                return fitted(s -> new MoELanguageModel(uid(), t.network(), vocabulary, s), t.history(), parts[1], instr);
            }
            if (init != null && init.spec().context() != getContext()) {
                throw new IllegalArgumentException("param initialModelPath: the model at " + where + " has context "
                        + init.spec().context() + ", these params say " + getContext());
            }
            // document ids: positions in the input (held-out split is not used here)
            JavaPairRDD<String, String> documents = texts.zipWithIndex().mapToPair(t -> new Tuple2<>(Long.toString(t._2()), t._1()));
            LanguageModelData data = new LanguageModelData(vocabulary, tokenizer, getContext());
            LanguageModelData.Examples examples = data.examples(documents);
            if (examples.totalExamples() == 0) {
                throw new IllegalArgumentException("cannot fit on documents without tokens (column '" + col + "')");
            }
            instr.logNamedValue("vocabularySize", vocabulary.size());
            instr.logNumExamples(examples.totalExamples());
            NetworkSpec spec = ParamsConfig.spec(this, vocabulary.size());
            Fitting.WarmStart warm = init == null ? Fitting.WarmStart.NONE : Fitting.WarmStart.of(init, where);
            Fitting.Trained t = Fitting.train(dataset, this, spec, examples.blocks(LanguageModelData.Part.ALL), warm, fit);
            return fitted(s -> new MoELanguageModel(uid(), t.network(), vocabulary, s), t.history(), parts[1], instr);
        } finally {
            texts.unpersist(false);
        }
    }

    /** The fitted model with these params and its summary (with the held-out perplexity when there is a validation set). */
    private MoELanguageModel fitted(java.util.function.Function<MoETrainingSummary, MoELanguageModel> withSummary,
                                    org.sparkmoe.app.TrainingHistory history, Dataset<?> heldOut, org.apache.spark.ml.util.Instrumentation instr) {
        java.util.Map<String, Double> validation = heldOut == null ? java.util.Map.of()
                : HeldOut.languageModel(copyValues(withSummary.apply(null), ParamMap.empty()), heldOut, instr);
        MoELanguageModel model = copyValues(withSummary.apply(new MoETrainingSummary(history, validation)), ParamMap.empty());
        model.setParent(this);
        return model;
    }

    public static MLReader<MoELanguageModelEstimator> read() {
        return new MoEPersistence.ParamsReader<>(MoELanguageModelEstimator.class, MoELanguageModelEstimator::new);
    }

    public static MoELanguageModelEstimator load(String path) {
        return read().load(path);
    }
}
