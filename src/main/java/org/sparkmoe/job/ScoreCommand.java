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
 * {@code gates}. The README's "Scoring" table maps them to transform's columns.
 */
class ScoreCommand extends Command {
    ScoreCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Path target = new Path(cfg.required("score.output", "for score (the parquet output path)"));
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
}
