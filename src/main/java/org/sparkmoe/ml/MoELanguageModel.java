package org.sparkmoe.ml;

import java.io.IOException;
import java.io.UncheckedIOException;

import java.util.Optional;

import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.data.Vocabulary;

/**
 * A fitted {@link MoELanguageModelEstimator}: network spec, parameters and vocabulary. transform() scores each document of textCol (tokenized as in
 * fit; words outside the vocabulary are {@code <unk>}): for a document of n tokens the model predicts
 * its n + 1 targets (each token from the c before it, {@code <eos>}-padded, then {@code <eos>}) and adds
 * <ul>
 *   <li>logLikelihoodCol (double): the sum of the natural-log probabilities of those targets;</li>
 *   <li>numTargetsCol (int): n + 1, or 0 for an empty (or null) document;</li>
 *   <li>perplexityCol (double): exp(-logLikelihood / numTargets), NaN for an empty document;</li>
 *   <li>predictionCol (string, off by default): the most probable next token after the document's
 *       last c tokens (may be {@code <eos>}).</li>
 * </ul>
 * A column param set to "" switches that output off. The perplexity of a whole corpus is
 * {@link #perplexity(Dataset)}: exp(-sum logLikelihood / sum numTargets).
 *
 * <p>Its experts are an {@link ExpertTable}: on the driver, or (fitted with placement "sharded")
 * distributed over the executors, scored by {@link DistributedScoring} and saved from there, as for
 * the classification and regression models; {@link #toLocal()} and {@link #toDistributed(int)} move
 * them. Saved as the other models (see {@link MoEPersistence}) plus {@code vocabulary.txt} (the
 * {@link Vocabulary#save} text file).
 *
 * <p>A recurrent model (lmModel lstm, moe-1-wide or lstm-moe; paper section 5.1) has the same
 * columns, computed per document from a zero LSTM state carried through the whole document
 * ({@link org.sparkmoe.app.RecurrentScorer}): the n + 1 targets are the document's words from the end
 * token and every earlier word of the document, then the end token. It holds all its parameters on
 * the driver ({@link #recurrentSpec()} says it is one; {@link #toDistributed} is refused), and is saved
 * in the same model layout with spec.json's {@code "recurrent"} object.
 */
public final class MoELanguageModel extends Model<MoELanguageModel>
        implements MoELanguageModelParams<MoELanguageModel>, MoEModel<MoELanguageModel>, MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final MoEParamSet ps;
    private final LmParamSet lm;
    /** The fixed-window network; null for a recurrent model. */
    private final FittedNetwork network;
    /** The recurrent network (lmModel lstm, moe-1-wide, lstm-moe); null for the window model. */
    private final RecurrentNetwork recurrent;
    private final Vocabulary vocabulary;
    private final MoETrainingSummary summary;

    /** A model with its experts on the driver. */
    public MoELanguageModel(String uid, NetworkSpec spec, ModelParameters parameters, Vocabulary vocabulary) {
        this(uid, spec, parameters.shared(), ExpertTable.local(parameters.experts()), vocabulary);
    }

    /** A model with these shared tensors and experts (local or distributed). */
    public MoELanguageModel(String uid, NetworkSpec spec, Parameters shared, ExpertTable experts, Vocabulary vocabulary) {
        this(uid, new FittedNetwork(checked(spec, vocabulary), shared, experts, NetworkSpec.Task.LANGUAGE_MODEL), vocabulary, null);
    }

    /**
     * A recurrent model (paper section 5.1: {@code spec.kind()} lstm, moe-1-wide or lstm-moe) of the
     * network settings {@code network} (V, d, the MoE) with these parameters, all on the driver, in the
     * recurrent model's layouts.
     */
    public MoELanguageModel(String uid, NetworkSpec network, RecurrentSpec spec, ModelParameters parameters, Vocabulary vocabulary) {
        this(uid, null, new RecurrentNetwork(checked(network, vocabulary), spec, parameters), vocabulary, null);
    }

    MoELanguageModel(String uid, FittedNetwork network, Vocabulary vocabulary, MoETrainingSummary summary) {
        this(uid, network, null, vocabulary, summary);
    }

    MoELanguageModel(String uid, RecurrentNetwork recurrent, Vocabulary vocabulary, MoETrainingSummary summary) {
        this(uid, null, recurrent, vocabulary, summary);
    }

    private MoELanguageModel(String uid, FittedNetwork network, RecurrentNetwork recurrent, Vocabulary vocabulary,
                             MoETrainingSummary summary) {
        this.uid = uid;
        this.network = network;
        this.recurrent = recurrent;
        this.vocabulary = vocabulary;
        this.summary = summary;
        this.ps = new MoEParamSet(uid);
        this.lm = new LmParamSet(uid);
        NetworkSpec spec = spec();
        moeParams().applyDefaults(this, false);
        setDefault(moeParams().predictionCol, "");
        lm.applyDefaults(this);
        // the network fixes these: the params report them
        set(lm.context, spec.context());
        set(lm.embeddingDim, spec.embeddingDim());
        if (recurrent != null) {
            RecurrentSpec r = recurrent.spec();
            set(lm.lmModel, r.kind());
            set(lm.seqLength, r.seqLength());
            set(lm.streams, r.streams());
            set(lm.dropout, r.dropout());
            set(ps.modelDim, spec.modelDim());
            set(ps.expertHiddenSize, spec.expertHidden());
            set(lm.vocabularySize, spec.vocabulary());
        }
    }

    private static NetworkSpec checked(NetworkSpec spec, Vocabulary vocabulary) {
        if (spec.task() != NetworkSpec.Task.LANGUAGE_MODEL) {
            throw new IllegalArgumentException("a language model needs a LANGUAGE_MODEL network spec, got " + spec.task());
        }
        if (vocabulary.size() != spec.vocabulary()) {
            throw new IllegalArgumentException("the vocabulary has " + vocabulary.size() + " ids, the network " + spec.vocabulary());
        }
        return spec;
    }

    @Override
    public LmParamSet lmParams() {
        return lm;
    }

    @Override
    public String uid() {
        return uid;
    }

    @Override
    public MoEParamSet moeParams() {
        return ps;
    }

    /** The fixed-window network; fails for a recurrent model ({@link #isRecurrent()}), which has none. */
    @Override
    public FittedNetwork network() {
        if (network == null) {
            throw new UnsupportedOperationException("a recurrent language model (lmModel " + recurrent.spec().kind()
                    + ") has no fixed-window network");
        }
        return network;
    }

    /** The recurrent model's description (kind, dropout, T, S; the sizes are {@link #spec()}'s); empty for the window model. */
    public Optional<RecurrentSpec> recurrentSpec() {
        return recurrent == null ? Optional.empty() : Optional.of(recurrent.spec());
    }

    @Override
    public NetworkSpec spec() {
        return recurrent != null ? recurrent.network() : network.spec();
    }

    @Override
    public ModelParameters parameters() {
        return recurrent != null ? recurrent.parameters() : MoEModel.super.parameters();
    }

    @Override
    public Parameters sharedParameters() {
        return recurrent != null ? recurrent.parameters().shared() : network.shared();
    }

    /** The experts; for a recurrent model a local table (none for the LSTM-LSTM baseline: an error). */
    @Override
    public ExpertTable experts() {
        if (recurrent == null) return network.experts();
        if (recurrent.model().numExperts() == 0) throw new UnsupportedOperationException("the LSTM-LSTM model (lmModel lstm) has no experts");
        return ExpertTable.local(recurrent.parameters().experts());
    }

    @Override
    public boolean isDistributed() {
        return recurrent == null && MoEModel.super.isDistributed();
    }

    @Override
    public void unpersist() {
        if (recurrent == null) MoEModel.super.unpersist();
    }

    /** A recurrent model keeps its experts on the driver: it is its own local form. */
    @Override
    public MoELanguageModel toLocal() {
        return recurrent != null ? copy(ParamMap.empty()) : MoEModel.super.toLocal();
    }

    /** Not offered for a recurrent model: it scores with its experts broadcast (as the engine's held-out evaluation). */
    @Override
    public MoELanguageModel toDistributed(int shards) {
        if (recurrent != null) {
            throw new UnsupportedOperationException("a recurrent language model keeps its experts on the driver and broadcasts them to score");
        }
        return MoEModel.super.toDistributed(shards);
    }

    @Override
    public Optional<MoETrainingSummary> trainingSummary() {
        return Optional.ofNullable(summary);
    }

    @Override
    public MoELanguageModel create(FittedNetwork n, MoETrainingSummary s) {
        return new MoELanguageModel(uid, n, vocabulary, s);
    }

    @Override
    public MoELanguageModel copy(ParamMap extra) {
        return copied(recurrent != null ? new MoELanguageModel(uid, recurrent, vocabulary, summary) : create(network, summary), extra);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        LanguageModelCodec codec = new LanguageModelCodec(dataset.schema(), this, spec(), vocabulary);
        return recurrent != null ? recurrent.transform(dataset, out, codec) : network.transform(dataset, out, codec);
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return Schemas.outputSchema(schema, this);
    }

    /** The perplexity of the documents of textCol taken as one corpus: exp(-sum ln p / number of targets). */
    public double perplexity(Dataset<?> documents) {
        MoELanguageModel m = copy(ParamMap.empty()).setLogLikelihoodCol("__ll").setNumTargetsCol("__n").setPerplexityCol("")
                .setPredictionCol("");
        Row r = m.transform(documents).agg(functions.sum("__ll"), functions.sum("__n")).head();
        if (r.isNullAt(1) || r.getLong(1) == 0) return Double.NaN;
        return Math.exp(-r.getDouble(0) / r.getLong(1));
    }

    @Override
    public MLWriter write() {
        return new MoEPersistence.ModelWriter<>(this,
                file -> vocabulary.save(file.toString(), SparkSession.active().sparkContext().hadoopConfiguration()));
    }

    /**
     * A reader; its {@code local()} / {@code distributed(shards)} choose where the experts go (default: as saved;
     * a recurrent model's are always on the driver).
     */
    public static MoEModelReader<MoELanguageModel> read() {
        return new MoEModelReader<>(MoELanguageModel.class,
                (path, uid, spec, shared, experts) -> new MoELanguageModel(uid, spec, shared, experts, savedVocabulary(path)),
                (path, uid, spec, params) -> new MoELanguageModel(uid, spec.network(), spec.recurrent(), params, savedVocabulary(path)));
    }

    private static Vocabulary savedVocabulary(String path) {
        try {
            org.apache.hadoop.conf.Configuration conf = SparkSession.active().sparkContext().hadoopConfiguration();
            return Vocabulary.load(org.sparkmoe.app.ModelDirectory.vocabularyFile(new Path(path), conf).toString(), conf);
        } catch (IOException e) {
            throw new UncheckedIOException("loading the vocabulary of " + path + ": " + e.getMessage(), e);
        }
    }

    public static MoELanguageModel load(String path) {
        return read().load(path);
    }

    @Override
    public String toString() {
        if (recurrent != null) {
            RecurrentSpec r = recurrent.spec();
            return Describe.model(this, "lmModel=" + r.kind() + ", vocabularySize=" + vocabulary.size() + ", seqLength=" + r.seqLength()
                    + ", streams=" + r.streams() + ", dropout=" + r.dropout());
        }
        return Describe.model(this, "vocabularySize=" + vocabulary.size() + ", context=" + spec().context());
    }
}
