package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.RecurrentScorer;
import org.sparkmoe.app.RecurrentSpec;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.data.Vocabulary;

/**
 * What a fitted recurrent language model is besides its params (the counterpart of
 * {@link FittedNetwork} for {@code lmModel} lstm, moe-1-wide and lstm-moe): its
 * network settings (V, d, the MoE), its {@link RecurrentSpec} and all its parameters on the driver (the experts are gathered after
 * training; scoring broadcasts them, as the engine's held-out evaluation does). Immutable.
 */
final class RecurrentNetwork implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final NetworkSpec network;
    private final RecurrentSpec spec;
    private final RecurrentLanguageModel model;
    private final ModelParameters params;

    /** @param network V, d and the MoE (a language-model spec; its window-only fields are unused) */
    RecurrentNetwork(NetworkSpec network, RecurrentSpec spec, ModelParameters params) {
        this.network = network;
        this.spec = spec;
        this.model = spec.model(network);
        if (!params.shared().layout().equals(model.sharedLayout()) || params.experts().length != model.numExperts()) {
            throw new IllegalArgumentException("parameters (" + params.experts().length + " experts, shared " + params.shared().layout()
                    + ") do not fit the " + spec.kind() + " model (" + model.numExperts() + " experts, shared " + model.sharedLayout() + ")");
        }
        this.params = params;
    }

    NetworkSpec network() {
        return network;
    }

    RecurrentSpec spec() {
        return spec;
    }

    RecurrentLanguageModel model() {
        return model;
    }

    ModelParameters parameters() {
        return params;
    }

    /**
     * Scores each document of the codec's text column with the application layer's
     * {@link RecurrentScorer} (the job's score uses it too): blocks of consecutive documents of about
     * {@link FeatureBlocks#BLOCK} targets, S of them side by side, each from a zero LSTM state carried
     * through the document. A document of n words has the n + 1 targets of training (its words from
     * the end token and every earlier word, then the end token); an empty one has none, and its next
     * word is the prediction from the end token alone.
     */
    Dataset<Row> transform(Dataset<?> ds, StructType out, LanguageModelCodec codec) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        RecurrentLanguageModel m = model;
        int t = spec.seqLength(), s = spec.streams();
        boolean predicts = codec.predicts();
        MapPartitionsFunction<Row, Row> f = it -> new BlockScoringIterator(it) {
            private final List<Row> block = new ArrayList<>();
            private final List<int[]> docs = new ArrayList<>();
            private RecurrentScorer scorer;

            @Override
            void fill(Iterator<Row> input, List<Row> ready) {
                block.clear();
                docs.clear();
                int read = 0;
                while (read < FeatureBlocks.BLOCK && input.hasNext()) {
                    Row row = input.next();
                    int[] d = codec.ids(row);
                    block.add(row);
                    docs.add(d);
                    read += d.length + 1;
                }
                if (scorer == null) scorer = new RecurrentScorer(m, pb.value(), t, s, Vocabulary.EOS_ID);
                int n = docs.size();
                double[] ll = new double[n];
                int[] targets = new int[n], next = new int[n];
                long[] ids = new long[n];
                for (int i = 0; i < n; i++) ids[i] = i;
                scorer.score(docs, ids, (doc, position, in, label, probabilities, row) -> {
                    int k = (int) doc, len = docs.get(k).length;
                    if (len > 0) {
                        ll[k] += Math.log(Math.max(probabilities.get(row, label), Double.MIN_NORMAL));
                        targets[k]++;
                    }
                    if (position == len && predicts) next[k] = RecurrentScorer.top(probabilities, row, 1)[0];
                });
                for (int i = 0; i < n; i++) ready.add(codec.output(block.get(i), ll[i], targets[i], next[i]));
            }
        };
        return ds.toDF().mapPartitions(f, Encoders.row(out));
    }
}
