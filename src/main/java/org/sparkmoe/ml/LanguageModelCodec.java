package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.Scorer;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.data.LanguageModelData;
import org.sparkmoe.data.Vocabulary;

/**
 * Scoring a string column of documents: a block is consecutive documents with up to about
 * {@link FeatureBlocks#BLOCK} examples (a document of n tokens has n + 1: each token from the c before
 * it, {@code <eos>}-padded, then {@code <eos>}); each document gets the sum of ln p(target) over its
 * examples, their count, the perplexity, and (predictionCol) the argmax word of its last example's
 * distribution (the next word after the document's last c tokens; for an empty document, after nothing).
 */
final class LanguageModelCodec implements ScoringCodec {
    private static final long serialVersionUID = 1L;
    private final int ti;
    private final LanguageModelData data;
    private final Vocabulary vocabulary;
    private final int c;
    private final int width;
    private final boolean ll;
    private final boolean nt;
    private final boolean ppl;
    private final boolean pred;

    LanguageModelCodec(StructType in, MoELanguageModelParams<?> p, NetworkSpec spec, Vocabulary vocabulary) {
        this.ti = in.fieldIndex(p.getTextCol());
        this.data = new LanguageModelData(vocabulary, org.sparkmoe.data.Tokenizer.defaults(), spec.context());
        this.vocabulary = vocabulary;
        this.c = spec.context();
        this.width = in.size();
        this.ll = !p.getLogLikelihoodCol().isEmpty();
        this.nt = !p.getNumTargetsCol().isEmpty();
        this.ppl = !p.getPerplexityCol().isEmpty();
        this.pred = !p.getPredictionCol().isEmpty();
    }

    /** The word ids of a row's document (without the end token). */
    int[] ids(Row row) {
        return data.encode(row.isNullAt(ti) ? null : row.getString(ti));
    }

    @Override
    public void read(Iterator<Row> in, List<Row> block) {
        block.clear();
        int examples = 0;
        while (examples < FeatureBlocks.BLOCK && in.hasNext()) {
            Row row = in.next();
            block.add(row);
            examples += ids(row).length + 1; // every document also gets its after-the-end prediction
        }
    }

    @Override
    public Batch encode(List<Row> block, Precision precision) {
        List<int[]> docs = new ArrayList<>(block.size());
        int rows = 0;
        for (Row row : block) {
            int[] doc = ids(row);
            docs.add(doc);
            rows += doc.length + 1;
        }
        int[] tokens = new int[rows * c];
        int[] labels = new int[rows];
        int r = 0;
        for (int[] doc : docs) {
            for (int j = 0; j <= doc.length; j++, r++) {
                for (int q = 0; q < c; q++) {
                    int i = j + q - c;
                    tokens[r * c + q] = i < 0 ? Vocabulary.EOS_ID : doc[i];
                }
                labels[r] = j < doc.length ? doc[j] : Vocabulary.EOS_ID;
            }
        }
        return Batch.ofTokens(rows, new long[rows], tokens, c, labels);
    }

    @Override
    public ScoringCodec.Decoder decoder(List<Row> block, Batch batch) {
        int m = batch.size();
        int[] labels = batch.labels();
        double[] logp = new double[m];
        int[] argmax = new int[m];
        return new ScoringCodec.Decoder() {
            @Override
            public void take(int from, Matrix o, GatingState gates, int gateFrom) {
                for (int i = 0; i < o.rows(); i++) {
                    logp[from + i] = Math.log(Math.max(o.get(i, labels[from + i]), Double.MIN_NORMAL));
                    if (pred) argmax[from + i] = Scorer.argmax(o, i);
                }
            }

            @Override
            public void finish(List<Row> out) {
                int r = 0;
                for (Row row : block) {
                    int n = ids(row).length;
                    int targets = n == 0 ? 0 : n + 1;
                    double sum = 0;
                    for (int j = 0; j < targets; j++) sum += logp[r + j];
                    int last = argmax[r + n];
                    r += n + 1;
                    out.add(output(row, sum, targets, last));
                }
            }
        };
    }

    /** Whether predictionCol is produced (the most probable next token after each document is needed). */
    boolean predicts() {
        return pred;
    }

    /**
     * The output row of an input row: its columns, then those switched on of the document's summed
     * ln p over its {@code targets} targets, the target count, the perplexity and the next word
     * ({@code next}: its id).
     */
    Row output(Row row, double sum, int targets, int next) {
        List<Object> vals = new ArrayList<>(width + 4);
        for (int q = 0; q < width; q++) vals.add(row.get(q));
        if (ll) vals.add(sum);
        if (nt) vals.add(targets);
        if (ppl) vals.add(targets == 0 ? Double.NaN : Math.exp(-sum / targets));
        if (pred) vals.add(vocabulary.word(next));
        return RowFactory.create(vals.toArray());
    }
}
