package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import org.apache.spark.sql.Row;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * Scores a partition's rows a block at a time (one network call per block, not per row):
 * {@link #fill} reads the next block of input rows and appends one output row for each; the
 * network and its workspace are built once per partition and reused.
 */
abstract class BlockScoringIterator implements Iterator<Row> {
    private final Iterator<Row> in;
    private final List<Row> ready = new ArrayList<>();
    private int at;
    private MoENetwork net;
    private MoENetwork.Workspace ws;

    BlockScoringIterator(Iterator<Row> in) {
        this.in = in;
    }

    /** Reads a block from {@code in} (which has at least one row) and appends its results to {@code out}. */
    abstract void fill(Iterator<Row> in, List<Row> out);

    /** The network for {@code spec}, built on first use. */
    final MoENetwork network(NetworkSpec spec, Precision precision) {
        if (net == null) {
            net = spec.build();
            ws = net.newWorkspace(precision);
        }
        return net;
    }

    /** The workspace of {@link #network}. */
    final MoENetwork.Workspace workspace() {
        return ws;
    }

    @Override
    public final boolean hasNext() {
        if (at < ready.size()) return true;
        if (!in.hasNext()) return false;
        ready.clear();
        at = 0;
        fill(in, ready);
        return at < ready.size();
    }

    @Override
    public final Row next() {
        if (!hasNext()) throw new NoSuchElementException();
        return ready.get(at++);
    }
}
