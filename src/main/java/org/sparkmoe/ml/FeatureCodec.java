package org.sparkmoe.ml;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.Scorer;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;

/** Classification and regression scoring: a Vector column in, the switched-on output columns out. */
final class FeatureCodec implements ScoringCodec {
    private static final long serialVersionUID = 1L;
    private final int fi;
    private final String featuresCol;
    private final int dim;
    private final int width;
    private final Outputs outputs;

    FeatureCodec(StructType in, MoEParams<?> p, boolean classifier, int dim) {
        this.fi = in.fieldIndex(p.getFeaturesCol());
        this.featuresCol = p.getFeaturesCol();
        this.dim = dim;
        this.width = in.size();
        this.outputs = Outputs.of(p, classifier);
    }

    @Override
    public void read(Iterator<Row> in, List<Row> block) {
        nextBlock(in, block);
    }

    @Override
    public Batch encode(List<Row> block, Precision precision) {
        int m = block.size();
        return Batch.ofFeatures(m, new long[m], features(block, fi, featuresCol, dim, precision), (int[]) null);
    }

    @Override
    public ScoringCodec.Decoder decoder(List<Row> block, Batch batch) {
        int m = batch.size();
        return new ScoringCodec.Decoder() {
            Matrix o;
            int[] experts;
            double[] gates;
            int slots;

            @Override
            public void take(int from, Matrix chunk, GatingState g, int gateFrom) {
                if (o == null) {
                    o = chunk.precision().zeros(m, chunk.cols());
                    slots = g.slots();
                    experts = new int[m * slots];
                    gates = new double[m * slots];
                }
                o.slice(from * o.cols(), chunk.rows(), o.cols()).copyFrom(chunk);
                System.arraycopy(g.expert(), gateFrom * slots, experts, from * slots, chunk.rows() * slots);
                System.arraycopy(g.gate(), gateFrom * slots, gates, from * slots, chunk.rows() * slots);
            }

            @Override
            public void finish(List<Row> out) {
                for (int r = 0; r < m; r++) {
                    Row row = block.get(r);
                    List<Object> vals = new ArrayList<>(width + 4);
                    for (int c = 0; c < width; c++) vals.add(row.get(c));
                    outputs.append(vals, o, r, experts, gates, r * slots, slots);
                    out.add(RowFactory.create(vals.toArray()));
                }
            }
        };
    }

    /** Which output columns a feature model's transform adds (the non-empty column params), and how. */
    record Outputs(boolean classifier, boolean raw, boolean prob, boolean pred, boolean experts, double[] thresholds)
            implements java.io.Serializable {
        static Outputs of(MoEParams<?> p, boolean classifier) {
            MoEClassifierParams<?> c = classifier ? (MoEClassifierParams<?>) p : null;
            // MLlib's thresholds param (classification models): the prediction is the argmax of probability / threshold
            double[] t = classifier && p.hasParam("thresholds") && p.isDefined(p.getParam("thresholds"))
                    ? (double[]) p.getOrDefault(p.getParam("thresholds")) : null;
            return new Outputs(classifier, classifier && !c.getRawPredictionCol().isEmpty(), classifier && !c.getProbabilityCol().isEmpty(),
                    !p.getPredictionCol().isEmpty(), !p.getExpertsCol().isEmpty(), t);
        }

        /**
         * Appends row r's outputs, in {@link #outputSchema} order, from the head's output {@code o}
         * and the chosen experts and gates of slots [base, base + slots) (slots with expert -1 are unused).
         */
        void append(List<Object> vals, Matrix o, int r, int[] expert, double[] gate, int base, int slots) {
            if (classifier) {
                double[] pr = Scorer.row(o, r);
                int arg = thresholds == null ? Scorer.argmax(o, r) : thresholdedArgmax(pr, thresholds);
                if (raw) {
                    double[] lp = new double[pr.length];
                    for (int c = 0; c < lp.length; c++) lp[c] = Math.log(Math.max(pr[c], Double.MIN_NORMAL));
                    vals.add(new DenseVector(lp));
                }
                if (prob) vals.add(new DenseVector(pr));
                if (pred) vals.add((double) arg);
            } else if (pred) {
                vals.add(o.get(r, 0));
            }
            if (experts) {
                List<Row> eg = new ArrayList<>();
                for (int s = base; s < base + slots; s++) {
                    if (expert[s] >= 0) eg.add(RowFactory.create(expert[s], gate[s]));
                }
                vals.add(eg.toArray());
            }
        }
    }

    /** MLlib's rule for {@code thresholds}: the class maximising p / t (the first on ties, like {@link Scorer#argmax}). */
    static int thresholdedArgmax(double[] p, double[] thresholds) {
        int arg = 0;
        double best = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < p.length; c++) {
            double scaled = p[c] / thresholds[c];
            if (scaled > best) {
                best = scaled;
                arg = c;
            }
        }
        return arg;
    }

    /** Copies row r's features (a Vector of {@code dim} values in column {@code fi}) into row r of {@code x}. */
    static void features(Row row, int fi, String featuresCol, int dim, Matrix x, int r) {
        if (row.isNullAt(fi)) throw new IllegalArgumentException("column '" + featuresCol + "' is null");
        Vector v = (Vector) row.get(fi);
        if (v.size() != dim) {
            throw new IllegalArgumentException("column '" + featuresCol + "' has " + v.size() + " features, the model expects " + dim);
        }
        v.foreachActive((i, val) -> {
            x.set(r, (Integer) i, (Double) val);
            return scala.runtime.BoxedUnit.UNIT;
        });
    }

    /** The features of {@code rows} as an m x dim matrix. */
    static Matrix features(List<Row> rows, int fi, String featuresCol, int dim, Precision prec) {
        Matrix x = prec.zeros(rows.size(), dim);
        for (int r = 0; r < rows.size(); r++) features(rows.get(r), fi, featuresCol, dim, x, r);
        return x;
    }

    /** Reads up to {@link FeatureBlocks#BLOCK} rows of {@code in} into {@code buffer} (cleared first). */
    static List<Row> nextBlock(Iterator<Row> in, List<Row> buffer) {
        buffer.clear();
        while (buffer.size() < FeatureBlocks.BLOCK && in.hasNext()) buffer.add(in.next());
        return buffer;
    }
}
