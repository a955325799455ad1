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
import org.sparkmoe.app.Scorer;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;

/** The models' transform with parameters broadcast to the executors. */
final class BroadcastScoring {
    private BroadcastScoring() {
    }

    /**
     * Scores with broadcast parameters and a pass over each partition: the codec's blocks run through
     * the application layer's {@link Scorer} (the job scores with it too).
     */
    static Dataset<Row> transform(Dataset<?> ds, StructType out, NetworkSpec spec, ModelParameters params, ScoringCodec codec) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        MapPartitionsFunction<Row, Row> f = it -> new BlockScoringIterator(it) {
            private final List<Row> block = new ArrayList<>();

            private Scorer scorer;

            @Override
            void fill(Iterator<Row> input, List<Row> ready) {
                codec.read(input, block);
                if (scorer == null) scorer = new Scorer(spec, pb.value());
                Batch batch = codec.encode(block, scorer.precision());
                ScoringCodec.Decoder decoder = codec.decoder(block, batch);
                scorer.score(batch, (chunk, from, o, gates) -> decoder.take(from, o, gates, 0));
                decoder.finish(ready);
            }
        };
        return ds.toDF().mapPartitions(f, Encoders.row(out));
    }
}
