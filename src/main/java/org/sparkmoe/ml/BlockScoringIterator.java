package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import org.apache.spark.sql.Row;

/**
 * Scores a partition's rows a block at a time (one network call per block, not per row):
 * {@link #fill} reads the next block of input rows and appends one output row for each; the
 * implementation keeps what it reuses across blocks (e.g. one {@code Scorer} per partition).
 */
abstract class BlockScoringIterator implements Iterator<Row> {
    private final Iterator<Row> in;
    private final List<Row> ready = new ArrayList<>();
    private int at;

    BlockScoringIterator(Iterator<Row> in) {
        this.in = in;
    }

    /** Reads a block from {@code in} (which has at least one row) and appends its results to {@code out}. */
    abstract void fill(Iterator<Row> in, List<Row> out);

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
