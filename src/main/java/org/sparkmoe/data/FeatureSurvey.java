package org.sparkmoe.data;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.sparkmoe.core.network.NetworkSpec.Task;

/**
 * The first pass over feature input, on the executors: per input split ("segment": one file from one
 * start offset, rows in file order) the row count, the first offending row, the feature count and the
 * largest label. Only these few numbers per segment reach the driver, which orders the segments by
 * (file path, start offset), assigns id offsets and picks the first offending row of the whole input.
 */
final class FeatureSurvey {

    /** One segment's report; travels as {@code Object[]{file, column, problem, long[]}} (Kryo-registered types). */
    static final class Segment {
        final String file;
        final long start;
        long count;
        long errRow = -1;
        String errColumn;
        String errProblem;
        long firstDim = -1;
        long mismatchRow = -1;
        long mismatchGot = -1;
        long maxDim = -1;
        long maxLabel = -1;
        /** Filled on the driver: id of the segment's first row, and row index of it within its file. */
        long idOffset;
        long fileRowOffset;

        Segment(String file, long start) {
            this.file = file;
            this.start = start;
        }

        Object[] toWire() {
            return new Object[] {file, errColumn, errProblem,
                new long[] {start, count, errRow, firstDim, mismatchRow, mismatchGot, maxDim, maxLabel}};
        }

        static Segment fromWire(Object o) {
            Object[] a = (Object[]) o;
            long[] n = (long[]) a[3];
            Segment s = new Segment((String) a[0], n[0]);
            s.errColumn = (String) a[1];
            s.errProblem = (String) a[2];
            s.count = n[1];
            s.errRow = n[2];
            s.firstDim = n[3];
            s.mismatchRow = n[4];
            s.mismatchGot = n[5];
            s.maxDim = n[6];
            s.maxLabel = n[7];
            return s;
        }
    }

    /** The surveyed input, ordered. */
    final List<Segment> segments;
    final long rows;

    private FeatureSurvey(List<Segment> segments) {
        this.segments = segments;
        long off = 0;
        Map<String, Long> fileRows = new HashMap<>();
        for (Segment s : segments) {
            s.idOffset = off;
            off += s.count;
            long fr = fileRows.getOrDefault(s.file, 0L);
            s.fileRowOffset = fr;
            fileRows.put(s.file, fr + s.count);
        }
        this.rows = off;
    }

    /** Runs the survey job. {@code expectedDim < 0}: the feature count is not known in advance. */
    static FeatureSurvey run(JavaRDD<Row> rows, FeatureRowParser parser, int expectedDim) {
        List<Object> wire = rows.mapPartitions((Iterator<Row> it) -> survey(it, parser, expectedDim)).collect();
        List<Segment> segs = new ArrayList<>(wire.size());
        for (Object o : wire) segs.add(Segment.fromWire(o));
        segs.sort(Comparator.comparing((Segment s) -> s.file).thenComparingLong(s -> s.start));
        return new FeatureSurvey(segs);
    }

    private static Iterator<Object> survey(Iterator<Row> it, FeatureRowParser p, int expectedDim) {
        List<Object> out = new ArrayList<>();
        int fi = p.fileIndex();
        int si = p.startIndex();
        Segment cur = null;
        boolean classification = p.task == Task.CLASSIFICATION;
        while (it.hasNext()) {
            Row r = it.next();
            String file = r.getString(fi);
            long start = r.getLong(si);
            if (cur == null || cur.start != start || !cur.file.equals(file)) {
                if (cur != null) out.add(cur.toWire());
                cur = new Segment(file, start);
            }
            long row = cur.count++;
            if (cur.errRow >= 0) continue; // only the first problem of a segment matters; keep counting
            try {
                int dim = p.features(r, null, 0, expectedDim);
                if (expectedDim < 0) {
                    if (cur.firstDim < 0) cur.firstDim = dim;
                    else if (dim != cur.firstDim && cur.mismatchRow < 0) {
                        cur.mismatchRow = row;
                        cur.mismatchGot = dim;
                    }
                }
                cur.maxDim = Math.max(cur.maxDim, dim);
                if (classification) cur.maxLabel = Math.max(cur.maxLabel, p.label(r));
                else p.targets(r, null, 0);
                if (p.weightColumn != null) p.weight(r);
            } catch (FeatureRowParser.RowProblem e) {
                cur.errRow = row;
                cur.errColumn = e.column;
                cur.errProblem = e.getMessage();
            }
        }
        if (cur != null) out.add(cur.toWire());
        return out.iterator();
    }

    /**
     * The feature count: {@code given} if positive, else for libsvm the largest index seen, else the
     * size of the first row of the input.
     */
    int featureCount(int given, boolean libsvm) {
        if (given > 0) return given;
        long d = -1;
        for (Segment s : segments) {
            if (libsvm) d = Math.max(d, s.maxDim);
            else if (s.count > 0 && s.firstDim >= 0) return (int) s.firstDim;
        }
        return (int) Math.max(d, 0);
    }

    long maxLabel() {
        long m = -1;
        for (Segment s : segments) m = Math.max(m, s.maxLabel);
        return m;
    }

    /**
     * Throws for the first offending row of the input (in id order), if any. {@code dim}: the feature
     * count all rows must have when the executors could not check it ({@code checkedDim} false).
     */
    void failOnFirstProblem(String input, int dim, boolean checkedDim, String vectorColumn) {
        for (Segment s : segments) {
            long row = -1;
            String col = null;
            String problem = null;
            if (s.errRow >= 0) {
                row = s.errRow;
                col = s.errColumn;
                problem = s.errProblem;
            }
            if (!checkedDim && s.firstDim >= 0) {
                long dimRow = -1;
                long got = -1;
                if (s.firstDim != dim) {
                    dimRow = 0;
                    got = s.firstDim;
                } else if (s.mismatchRow >= 0) {
                    dimRow = s.mismatchRow;
                    got = s.mismatchGot;
                }
                if (dimRow >= 0 && (row < 0 || dimRow < row)) {
                    row = dimRow;
                    col = vectorColumn;
                    problem = "wrong vector size: expected " + dim + " features (the size of the input's first "
                            + "vector), got " + got;
                }
            }
            if (row >= 0) {
                long fileRow = s.fileRowOffset + row;
                throw new FeatureDataException("feature input " + input + ": file " + s.file + ", row " + fileRow
                        + " (0-based data row of that file; example id " + (s.idOffset + row) + "), column '" + col
                        + "': " + problem, s.file, fileRow, col, null);
            }
        }
    }

    /** (file, start) -> id of the segment's first row; for the block-building pass. */
    HashMap<String, Long> idOffsets() {
        HashMap<String, Long> m = new HashMap<>();
        for (Segment s : segments) m.put(key(s.file, s.start), s.idOffset);
        return m;
    }

    static String key(String file, long start) {
        return start + "@" + file;
    }
}
