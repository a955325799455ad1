package org.sparkmoe.job;

import org.apache.spark.api.java.JavaSparkContext;
import java.io.PrintStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.app.Publish;
import org.sparkmoe.app.RecurrentScorer;
import org.apache.spark.sql.RowFactory;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.network.RowBlock;

/**
 * {@code score}: batch prediction of job.model to parquet at score.output (published by rename),
 * with the application layer's {@code Scorer}, as the ML models' transform. Columns: {@code id} (the
 * row's index in the input); classification and language models {@code prediction} (int: the class
 * or next token), {@code probability} (its probability), {@code label}, and for classification
 * {@code probabilities} (all classes: transform's {@code probability}); regression
 * {@code prediction} (array: one value per output); with score.experts {@code experts} and
 * {@code gates}. The README's "Scoring" table maps them to transform's columns. A recurrent
 * language model ({@link #scoreRecurrent}) writes one row per position of each document.
 */
class ScoreCommand extends Command {
    ScoreCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Path target = new Path(cfg.required("score.output", "for score (the parquet output path)"));
        java.util.Optional<RecurrentLm.Saved> recurrent = recurrentModel(cfg);
        if (recurrent.isPresent()) return scoreRecurrent(cfg, recurrent.get(), target);
        Loaded model = loadModel(cfg);
        JobData data = dataFor(cfg, model);
        NetworkSpec ns = model.spec().network();
        boolean experts = cfg.bool("score.experts");
        List<StructField> fields = new ArrayList<>();
        fields.add(DataTypes.createStructField("id", DataTypes.LongType, false));
        if (ns.task() == NetworkSpec.Task.REGRESSION) {
            fields.add(DataTypes.createStructField("prediction", DataTypes.createArrayType(DataTypes.DoubleType, false), false));
        } else {
            fields.add(DataTypes.createStructField("prediction", DataTypes.IntegerType, false));
            fields.add(DataTypes.createStructField("probability", DataTypes.DoubleType, false));
            fields.add(DataTypes.createStructField("label", DataTypes.IntegerType, false));
            if (ns.task() == NetworkSpec.Task.CLASSIFICATION) {
                fields.add(DataTypes.createStructField("probabilities", DataTypes.createArrayType(DataTypes.DoubleType, false), false));
            }
        }
        if (experts) {
            DataType ints = DataTypes.createArrayType(DataTypes.IntegerType, false);
            fields.add(DataTypes.createStructField("experts", ints, false));
            fields.add(DataTypes.createStructField("gates", DataTypes.createArrayType(DataTypes.DoubleType, false), false));
        }
        StructType schema = DataTypes.createStructType(fields);
        JavaRDD<RowBlock> rows = data.heldout;
        Broadcast<ModelParameters> pb = sc.broadcast(model.state().params());
        sc.setJobGroup("spark-moe-score", "spark-moe: score " + model.dir() + " to " + target, false);
        try {
            JavaRDD<Row> scored = Evaluator.score(sc, ns, model.state().params(), rows, experts, pb);
            SparkSession spark = SparkSession.builder().getOrCreate();
            Publish.write(target, hadoop, tmp -> spark.createDataFrame(scored, schema).write().parquet(tmp.toString()));
        } finally {
            pb.destroy(false);
        }
        out.println("scores written to " + target);
        return MoEJob.OK;
    }

    /** The columns of a recurrent language model's scores, one row per prediction (see {@link #scoreRecurrent}). */
    static final StructType RECURRENT_SCHEMA = new StructType()
            .add("document", DataTypes.LongType, false)
            .add("position", DataTypes.IntegerType, false)
            .add("label", DataTypes.IntegerType, false)
            .add("labelWord", DataTypes.StringType, false)
            .add("labelProbability", DataTypes.DoubleType, false)
            .add("prediction", DataTypes.IntegerType, false)
            .add("probability", DataTypes.DoubleType, false)
            .add("topWords", DataTypes.createArrayType(DataTypes.StringType, false), false)
            .add("topProbabilities", DataTypes.createArrayType(DataTypes.DoubleType, false), false);

    /**
     * score of a recurrent language model: every held-out document (as evaluate reads them) run once
     * through the model from a zero LSTM state, the state carried through the whole document
     * ({@link RecurrentScorer}). One row per prediction: {@code document} (its index among the
     * held-out documents), {@code position} (0 predicts the first word from the document start),
     * {@code label} and {@code labelWord} (the next token: a word, or &lt;eos&gt; after the last),
     * {@code labelProbability} (the model's probability of it: perplexity = exp(-mean log)),
     * {@code prediction} and {@code probability} (the most probable next token and its probability),
     * {@code topWords} and {@code topProbabilities} (the score.topK most probable, most probable first).
     */
    private int scoreRecurrent(JobConfig cfg, RecurrentLm.Saved model, Path target) throws IOException {
        RecurrentLm.Documents docs = recurrentData(cfg, model);
        int topK = cfg.integer("score.topK");
        RecurrentLanguageModel m = model.model();
        org.sparkmoe.app.RecurrentSpec r = model.spec().recurrent();
        int steps = r.seqLength(), streams = r.streams();
        org.sparkmoe.data.Vocabulary vocab = model.vocabulary();
        Broadcast<ModelParameters> pb = sc.broadcast(model.state().params());
        sc.setJobGroup("spark-moe-score", "spark-moe: score " + model.dir() + " to " + target, false);
        try {
            JavaRDD<Row> scored = docs.heldout().mapPartitions(it -> {
                List<long[]> order = new ArrayList<>();
                List<int[]> words = new ArrayList<>();
                it.forEachRemaining(d -> {
                    order.add(new long[] {d._1(), words.size()});
                    words.add(d._2());
                });
                order.sort(java.util.Comparator.comparingLong(x -> x[0]));
                List<int[]> sorted = new ArrayList<>(words.size());
                long[] ids = new long[order.size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = order.get(i)[0];
                    sorted.add(words.get((int) order.get(i)[1]));
                }
                List<Row> rows = new ArrayList<>();
                new RecurrentScorer(m, pb.value(), steps, streams, org.sparkmoe.data.Vocabulary.EOS_ID).score(sorted, ids,
                        (doc, pos, input, label, p, row) -> {
                            int[] top = RecurrentScorer.top(p, row, topK);
                            String[] topWords = new String[top.length];
                            Double[] topP = new Double[top.length];
                            for (int i = 0; i < top.length; i++) {
                                topWords[i] = vocab.word(top[i]);
                                topP[i] = p.get(row, top[i]);
                            }
                            rows.add(RowFactory.create(doc, pos, label, vocab.word(label), p.get(row, label), top[0], topP[0], topWords, topP));
                        });
                return rows.iterator();
            });
            SparkSession spark = SparkSession.builder().getOrCreate();
            Publish.write(target, hadoop, tmp -> spark.createDataFrame(scored, RECURRENT_SCHEMA).write().parquet(tmp.toString()));
        } finally {
            pb.destroy(false);
        }
        out.println("scores written to " + target);
        return MoEJob.OK;
    }
}
