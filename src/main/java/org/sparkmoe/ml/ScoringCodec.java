package org.sparkmoe.ml;

import java.util.Iterator;
import java.util.List;

import org.apache.spark.sql.Row;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;

/**
 * How a model turns input rows into network examples and the head's outputs back into output
 * rows: the part of scoring that depends on the task, shared by the local (broadcast, see
 * {@link BroadcastScoring#transform}) and the distributed ({@link DistributedScoring}) paths. Blocks must
 * be read deterministically: the distributed path reads each input partition twice and relies on
 * both passes forming the same blocks.
 */
interface ScoringCodec extends java.io.Serializable {
    /** Reads the next block of rows of {@code in} (which has one) into {@code block} (cleared first). */
    void read(Iterator<Row> in, List<Row> block);

    /** The examples of a block (example ids unused: scoring has no noise). */
    Batch encode(List<Row> block, Precision precision);

    /** Collects the head's outputs of one block, a chunk of examples at a time, then writes its rows. */
    Decoder decoder(List<Row> block, Batch batch);

    interface Decoder {
        /**
         * The head's outputs {@code o} for examples [from, from + o.rows()) of the batch, whose gating is
         * row {@code gateFrom + i} of {@code gates} for example {@code from + i}.
         */
        void take(int from, Matrix o, GatingState gates, int gateFrom);

        /** Appends one output row per row of the block: its input columns, then the outputs. */
        void finish(List<Row> out);
    }
}
