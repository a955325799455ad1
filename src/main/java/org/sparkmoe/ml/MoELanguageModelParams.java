package org.sparkmoe.ml;

import java.io.Serializable;

import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.sparkmoe.app.Settings;


/**
 * The language model's params besides the shared MoE ones: the document column, the vocabulary and
 * input layer sizes, its output columns, and which model ({@code lmModel}: the fixed-window model, or
 * the paper's recurrent model of section 5.1 and its table-7 baselines, with their window length T
 * {@code seqLength}, streams S and dropout). featuresCol and labelCol of {@link MoEParams} are not
 * used by the language model; predictionCol defaults to "" (off) and, when set, names a string
 * column with the most probable next word after each document; expertsCol is not produced.
 */
public interface MoELanguageModelParams<T extends MoELanguageModelParams<T>> extends MoEParams<T> {

    /** The param objects of the language-model params of this instance. */
    LmParamSet lmParams();

    /** The language-model param objects of one instance (see {@link MoEParamSet}). */
    final class LmParamSet implements Serializable {
        private static final long serialVersionUID = 1L;

        final Param<String> textCol;
        final IntParam vocabularySize;
        final IntParam context;
        final IntParam embeddingDim;
        final Param<String> logLikelihoodCol;
        final Param<String> perplexityCol;
        final Param<String> numTargetsCol;
        final Param<String> lmModel;
        final IntParam seqLength;
        final IntParam streams;
        final DoubleParam dropout;

        LmParamSet(String uid) {
            textCol = MoEParamSet.stringParam(uid, Settings.TEXT_COL);
            vocabularySize = MoEParamSet.intParam(uid, Settings.VOCABULARY_SIZE);
            context = MoEParamSet.intParam(uid, Settings.CONTEXT);
            embeddingDim = MoEParamSet.intParam(uid, Settings.EMBEDDING_DIM);
            logLikelihoodCol = MoEParamSet.stringParam(uid, Settings.LOG_LIKELIHOOD_COL);
            perplexityCol = MoEParamSet.stringParam(uid, Settings.PERPLEXITY_COL);
            numTargetsCol = MoEParamSet.stringParam(uid, Settings.NUM_TARGETS_COL);
            lmModel = MoEParamSet.stringParam(uid, Settings.LM_MODEL);
            seqLength = MoEParamSet.intParam(uid, Settings.LM_SEQ_LENGTH);
            streams = MoEParamSet.intParam(uid, Settings.LM_STREAMS);
            dropout = MoEParamSet.doubleParam(uid, Settings.LM_DROPOUT);
        }

        void applyDefaults(Params owner) {
            for (Param<?> p : new Param<?>[] {textCol, vocabularySize, context, embeddingDim, logLikelihoodCol, perplexityCol,
                    numTargetsCol, lmModel, seqLength, streams, dropout}) {
                MoEParamSet.setDefault(owner, p);
            }
        }
    }

    default Param<String> textCol() {
        return lmParams().textCol;
    }

    default String getTextCol() {
        return (String) getOrDefault(textCol());
    }

    @SuppressWarnings("unchecked")
    default T setTextCol(String value) {
        set(textCol(), value);
        return (T) this;
    }

    default IntParam vocabularySize() {
        return lmParams().vocabularySize;
    }

    default int getVocabularySize() {
        return (Integer) getOrDefault(vocabularySize());
    }

    @SuppressWarnings("unchecked")
    default T setVocabularySize(int value) {
        set(vocabularySize(), value);
        return (T) this;
    }

    default IntParam context() {
        return lmParams().context;
    }

    default int getContext() {
        return (Integer) getOrDefault(context());
    }

    @SuppressWarnings("unchecked")
    default T setContext(int value) {
        set(context(), value);
        return (T) this;
    }

    default IntParam embeddingDim() {
        return lmParams().embeddingDim;
    }

    default int getEmbeddingDim() {
        return (Integer) getOrDefault(embeddingDim());
    }

    @SuppressWarnings("unchecked")
    default T setEmbeddingDim(int value) {
        set(embeddingDim(), value);
        return (T) this;
    }

    default Param<String> logLikelihoodCol() {
        return lmParams().logLikelihoodCol;
    }

    default String getLogLikelihoodCol() {
        return (String) getOrDefault(logLikelihoodCol());
    }

    @SuppressWarnings("unchecked")
    default T setLogLikelihoodCol(String value) {
        set(logLikelihoodCol(), value);
        return (T) this;
    }

    default Param<String> perplexityCol() {
        return lmParams().perplexityCol;
    }

    default String getPerplexityCol() {
        return (String) getOrDefault(perplexityCol());
    }

    @SuppressWarnings("unchecked")
    default T setPerplexityCol(String value) {
        set(perplexityCol(), value);
        return (T) this;
    }

    default Param<String> numTargetsCol() {
        return lmParams().numTargetsCol;
    }

    default String getNumTargetsCol() {
        return (String) getOrDefault(numTargetsCol());
    }

    @SuppressWarnings("unchecked")
    default T setNumTargetsCol(String value) {
        set(numTargetsCol(), value);
        return (T) this;
    }

    default Param<String> lmModel() {
        return lmParams().lmModel;
    }

    /** window, lstm, moe-1-wide or lstm-moe (canonical spelling). */
    default String getLmModel() {
        return Settings.LM_MODEL.canonical((String) getOrDefault(lmModel()));
    }

    @SuppressWarnings("unchecked")
    default T setLmModel(String value) {
        set(lmModel(), value);
        return (T) this;
    }

    /** Whether lmModel names a recurrent model (not the fixed-window one). */
    default boolean isRecurrent() {
        return !getLmModel().equals("window");
    }

    default IntParam seqLength() {
        return lmParams().seqLength;
    }

    default int getSeqLength() {
        return (Integer) getOrDefault(seqLength());
    }

    @SuppressWarnings("unchecked")
    default T setSeqLength(int value) {
        set(seqLength(), value);
        return (T) this;
    }

    default IntParam streams() {
        return lmParams().streams;
    }

    default int getStreams() {
        return (Integer) getOrDefault(streams());
    }

    @SuppressWarnings("unchecked")
    default T setStreams(int value) {
        set(streams(), value);
        return (T) this;
    }

    default DoubleParam dropout() {
        return lmParams().dropout;
    }

    default double getDropout() {
        return (Double) getOrDefault(dropout());
    }

    @SuppressWarnings("unchecked")
    default T setDropout(double value) {
        set(dropout(), value);
        return (T) this;
    }
}
