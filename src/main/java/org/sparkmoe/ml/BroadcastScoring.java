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
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * Scoring with broadcast parameters and a pass over each partition: the codec's blocks run through
 * {@link MoENetwork#predict} (no gating noise) {@link FeatureBlocks#BLOCK} examples at a time.
 */
final class BroadcastScoring {
    private BroadcastScoring() {
    }

    /**
     * Scores with broadcast parameters and a pass over each partition: the codec's blocks run through
     * {@link MoENetwork#predict} (no gating noise) {@link FeatureBlocks#BLOCK} examples at a time.
     */
    static Dataset<Row> transform(Dataset<?> ds, StructType out, NetworkSpec spec, ModelParameters params, ScoringCodec codec) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        MapPartitionsFunction<Row, Row> f = it -> new BlockScoringIterator(it) {
            private final List<Row> block = new ArrayList<>();

            @Override
            void fill(Iterator<Row> input, List<Row> ready) {
                codec.read(input, block);
                ModelParameters mp = pb.value();
                Precision prec = mp.shared().precision();
                MoENetwork net = network(spec, prec);
                MoENetwork.Workspace ws = workspace();
                Batch batch = codec.encode(block, prec);
                ScoringCodec.Decoder decoder = codec.decoder(block, batch);
                for (int from = 0; from < batch.size(); from += FeatureBlocks.BLOCK) {
                    int n = Math.min(FeatureBlocks.BLOCK, batch.size() - from);
                    Matrix o = prec.zeros(n, spec.outputs());
                    net.predict(mp, batch.slice(from, n), ws, o);
                    decoder.take(from, o, ws.moe().gate(), 0);
                }
                decoder.finish(ready);
            }
        };
        return ds.toDF().mapPartitions(f, Encoders.row(out));
    }
}
