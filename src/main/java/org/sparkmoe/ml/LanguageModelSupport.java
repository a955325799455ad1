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
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.network.TokenContextEmbedding;
import org.sparkmoe.io.LanguageModelData;
import org.sparkmoe.io.Vocabulary;

/** What the language-model estimator and model share: schema checks, the network spec, scoring. */
final class LanguageModelSupport {
    private LanguageModelSupport() {
    }

    static void requireStringColumn(StructType schema, String param, String col) {
        if (!java.util.Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") does not exist; available columns: "
                    + String.join(", ", schema.fieldNames()));
        }
        if (!(schema.apply(col).dataType() instanceof StringType)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") must be a string column of documents, got "
                    + schema.apply(col).dataType().simpleString());
        }
    }

    /** The model's output schema: the input columns, then the switched-on outputs. */
    static StructType outputSchema(StructType schema, MoELanguageModelParams<?> p) {
        MoESupport.validateParams(p);
        requireStringColumn(schema, "textCol", p.getTextCol());
        StructType out = schema;
        out = MoESupport.addOutput(out, "logLikelihoodCol", p.getLogLikelihoodCol(), DataTypes.DoubleType);
        out = MoESupport.addOutput(out, "numTargetsCol", p.getNumTargetsCol(), DataTypes.IntegerType);
        out = MoESupport.addOutput(out, "perplexityCol", p.getPerplexityCol(), DataTypes.DoubleType);
        out = MoESupport.addOutput(out, "predictionCol", p.getPredictionCol(), DataTypes.StringType);
        return out;
    }

    static NetworkSpec spec(MoELanguageModelParams<?> p, int vocabulary) {
        NetworkSpec f = MoESupport.spec(p, NetworkSpec.Task.REGRESSION, 1, 1);
        return new NetworkSpec(NetworkSpec.Task.LANGUAGE_MODEL, 0, vocabulary, p.getContext(), p.getEmbeddingDim(),
                TokenContextEmbedding.Mode.CONCAT, f.modelDim(), vocabulary, f.gating(), f.experts(), f.k(), f.groups(),
                f.expertsPerGroup(), f.kPrimary(), f.kSecondary(), f.expertHidden(), false, f.wImportance(), f.wLoad());
    }

    /**
     * Scores documents a partition at a time: the examples of consecutive documents are gathered into
     * batches of up to {@link MoESupport#BLOCK} rows and run through {@link MoENetwork#predict} (no
     * gating noise) with broadcast parameters; each document gets the sum of ln p(target) over its
     * examples, their count, the perplexity, and (predictionCol) the argmax word of its last
     * example's distribution (the next word after the document's last c tokens).
     */
    static Dataset<Row> transform(Dataset<?> ds, MoELanguageModelParams<?> p, NetworkSpec spec, ModelParameters params,
                                  Vocabulary vocabulary) {
        StructType in = ds.schema();
        StructType out = outputSchema(in, p);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        Broadcast<ModelParameters> pb = sc.broadcast(params);
        LanguageModelData data = new LanguageModelData(vocabulary, org.sparkmoe.io.Tokenizer.defaults(), spec.context());
        int ti = in.fieldIndex(p.getTextCol());
        boolean ll = !p.getLogLikelihoodCol().isEmpty();
        boolean nt = !p.getNumTargetsCol().isEmpty();
        boolean ppl = !p.getPerplexityCol().isEmpty();
        boolean pred = !p.getPredictionCol().isEmpty();
        int width = in.size();
        int block = MoESupport.BLOCK;
        int c = spec.context();
        int v = spec.vocabulary();
        MapPartitionsFunction<Row, Row> f = it -> new BlockScoringIterator(it) {
            @Override
            void fill(Iterator<Row> input, List<Row> ready) {
                List<Row> buffer = new ArrayList<>();
                List<int[]> encoded = new ArrayList<>();
                int rows = 0;
                while (rows < block && input.hasNext()) {
                    Row row = input.next();
                    int[] ids = data.encode(row.isNullAt(ti) ? null : row.getString(ti));
                    buffer.add(row);
                    encoded.add(ids);
                    rows += ids.length + 1; // every document also gets its empty-context prediction (for predictionCol)
                }
                // all examples of the buffered documents, one extra "first word" example for empty ones
                int[] tokens = new int[rows * c];
                int[] labels = new int[rows];
                int r = 0;
                for (int[] doc : encoded) {
                    for (int j = 0; j <= doc.length; j++, r++) {
                        for (int q = 0; q < c; q++) {
                            int i = j + q - c;
                            tokens[r * c + q] = i < 0 ? Vocabulary.EOS_ID : doc[i];
                        }
                        labels[r] = j < doc.length ? doc[j] : Vocabulary.EOS_ID;
                    }
                }
                ModelParameters mp = pb.value();
                Precision prec = mp.shared().precision();
                MoENetwork net = network(spec, prec);
                MoENetwork.Workspace ws = workspace();
                double[] logp = new double[rows];
                int[] argmax = new int[rows];
                for (int from = 0; from < rows; from += block) {
                    int m = Math.min(block, rows - from);
                    int[] t = java.util.Arrays.copyOfRange(tokens, from * c, (from + m) * c);
                    int[] l = java.util.Arrays.copyOfRange(labels, from, from + m);
                    Batch batch = Batch.ofTokens(m, new long[m], t, c, l);
                    Matrix o = prec.zeros(m, v);
                    net.predict(mp, batch, ws, o);
                    for (int i = 0; i < m; i++) {
                        logp[from + i] = Math.log(Math.max(o.get(i, l[i]), Double.MIN_NORMAL));
                        if (pred) {
                            int a = 0;
                            double best = o.get(i, 0);
                            for (int w = 1; w < v; w++) {
                                double x = o.get(i, w);
                                if (x > best) {
                                    best = x;
                                    a = w;
                                }
                            }
                            argmax[from + i] = a;
                        }
                    }
                }
                r = 0;
                for (int d = 0; d < buffer.size(); d++) {
                    int n = encoded.get(d).length;
                    int targets = n == 0 ? 0 : n + 1;
                    double sum = 0;
                    for (int j = 0; j < targets; j++) sum += logp[r + j];
                    int last = argmax[r + n]; // after the whole document (or after nothing, when empty)
                    r += n + 1;
                    Row row = buffer.get(d);
                    List<Object> vals = new ArrayList<>(width + 4);
                    for (int q = 0; q < width; q++) vals.add(row.get(q));
                    if (ll) vals.add(sum);
                    if (nt) vals.add(targets);
                    if (ppl) vals.add(targets == 0 ? Double.NaN : Math.exp(-sum / targets));
                    if (pred) vals.add(vocabulary.word(last));
                    ready.add(RowFactory.create(vals.toArray()));
                }
            }
        };
        return ds.toDF().mapPartitions(f, Encoders.row(out));
    }
}
