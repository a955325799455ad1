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
import org.sparkmoe.app.DocumentScorer;
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
     * {@link DocumentScorer} (the job's score uses it too): blocks of consecutive documents of about
     * {@link FeatureBlocks#BLOCK} targets, S of them side by side, each from a zero LSTM state.
     */
    Dataset<Row> transform(Dataset<?> ds, StructType out, LanguageModelCodec codec) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        RecurrentLanguageModel m = model;
        int t = spec.seqLength(), s = spec.streams(), top = codec.predicts() ? 1 : 0;
        MapPartitionsFunction<Row, Row> f = it -> new BlockScoringIterator(it) {
            private final List<Row> block = new ArrayList<>();
            private final List<int[]> docs = new ArrayList<>();
            private DocumentScorer scorer;

            @Override
            void fill(Iterator<Row> input, List<Row> ready) {
                block.clear();
                docs.clear();
                int targets = 0;
                while (targets < FeatureBlocks.BLOCK && input.hasNext()) {
                    Row row = input.next();
                    int[] d = codec.ids(row);
                    block.add(row);
                    docs.add(d);
                    targets += d.length + 1;
                }
                if (scorer == null) scorer = new DocumentScorer(m, pb.value(), t, s, Vocabulary.EOS_ID, top);
                DocumentScorer.Scores sc = scorer.score(docs);
                for (int i = 0; i < block.size(); i++) {
                    ready.add(codec.output(block.get(i), sc.logLikelihood()[i], sc.targets()[i], top == 0 ? 0 : sc.nextTokens()[i][0]));
                }
            }
        };
        return ds.toDF().mapPartitions(f, Encoders.row(out));
    }
}
