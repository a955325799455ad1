package org.sparkmoe.ml;

import java.util.Arrays;
import org.apache.spark.ml.attribute.AttributeGroup;
import org.apache.spark.ml.attribute.NominalAttribute;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.StringType;

/** Schema checks and output columns of the MoE estimators and models; messages name the column and the param. */
final class Schemas {
    private Schemas() {
    }

    static void requireVectorColumn(StructType schema, String param, String col) {
        StructField f = field(schema, param, col);
        if (!(f.dataType() instanceof VectorUDT)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") must be of type Vector ("
                    + new VectorUDT().simpleString() + "), got " + f.dataType().simpleString());
        }
    }

    static void requireNumericColumn(StructType schema, String param, String col) {
        StructField f = field(schema, param, col);
        if (!(f.dataType() instanceof NumericType)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") must be numeric, got "
                    + f.dataType().simpleString());
        }
    }

    private static StructField field(StructType schema, String param, String col) {
        if (!Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("column '" + col + "' (param " + param + ") does not exist; available columns: "
                    + String.join(", ", schema.fieldNames()));
        }
        return schema.apply(col);
    }

    /** Appends an output column, refusing one that exists already. */
    static StructType addOutput(StructType schema, String param, String col, org.apache.spark.sql.types.DataType type) {
        if (col == null || col.isEmpty()) return schema;
        if (Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("output column '" + col + "' (param " + param + ") already exists");
        }
        return schema.add(col, type, false);
    }

    static final StructType EXPERT_GATE = new StructType()
            .add("expert", DataTypes.IntegerType, false).add("gate", DataTypes.DoubleType, false);

    /**
     * The output schema of a model's transform (input columns then the outputs that are switched on).
     * {@code classes}: 0 for regression; for a classifier the class count, which puts MLlib's
     * metadata on the outputs (prediction: nominal with that many values; rawPrediction and
     * probability: attribute groups of that size), or -1 when not known yet (the estimator's check).
     */
    static StructType outputSchema(StructType schema, MoEParams<?> p, int classes) {
        ParamsConfig.config(p);
        requireVectorColumn(schema, "featuresCol", p.getFeaturesCol());
        StructType out = schema;
        if (classes != 0) {
            MoEClassifierParams<?> c = (MoEClassifierParams<?>) p;
            if (classes > 0 && c.isDefined(c.getParam("thresholds"))) {
                double[] t = (double[]) c.getOrDefault(c.getParam("thresholds"));
                if (t.length != classes) {
                    throw new IllegalArgumentException("param thresholds has " + t.length + " values, the model has " + classes + " classes");
                }
            }
            out = addOutput(out, "rawPredictionCol", c.getRawPredictionCol(), new VectorUDT(), group(c.getRawPredictionCol(), classes));
            out = addOutput(out, "probabilityCol", c.getProbabilityCol(), new VectorUDT(), group(c.getProbabilityCol(), classes));
            Metadata nominal = classes > 0 && !p.getPredictionCol().isEmpty()
                    ? NominalAttribute.defaultAttr().withName(p.getPredictionCol()).withNumValues(classes).toMetadata() : Metadata.empty();
            out = addOutput(out, "predictionCol", p.getPredictionCol(), DataTypes.DoubleType, nominal);
        } else {
            out = addOutput(out, "predictionCol", p.getPredictionCol(), DataTypes.DoubleType, Metadata.empty());
        }
        out = addOutput(out, "expertsCol", p.getExpertsCol(), DataTypes.createArrayType(EXPERT_GATE, false));
        return out;
    }

    private static Metadata group(String col, int size) {
        return size > 0 && !col.isEmpty() ? new AttributeGroup(col, size).toMetadata() : Metadata.empty();
    }

    private static StructType addOutput(StructType schema, String param, String col, org.apache.spark.sql.types.DataType type, Metadata md) {
        StructType out = addOutput(schema, param, col, type);
        if (out == schema || md.equals(Metadata.empty())) return out;
        StructField[] f = out.fields().clone();
        StructField last = f[f.length - 1];
        f[f.length - 1] = new StructField(last.name(), last.dataType(), last.nullable(), md);
        return new StructType(f);
    }

    /** {@code df} with the column metadata of {@code schema} (the scoring pass builds rows without it). */
    static Dataset<Row> withMetadata(Dataset<Row> df, StructType schema) {
        for (StructField f : schema.fields()) {
            if (!f.metadata().equals(Metadata.empty()) && !df.schema().apply(f.name()).metadata().equals(f.metadata())) {
                df = df.withColumn(f.name(), df.col(f.name()), f.metadata());
            }
        }
        return df;
    }

    /** The estimator's schema check: the model's plus a numeric label. */
    static StructType fitSchema(StructType schema, MoEParams<?> p, boolean classifier) {
        requireNumericColumn(schema, "labelCol", p.getLabelCol());
        if (p instanceof MoESupervisedParams<?> s && !s.getWeightCol().isEmpty()) requireNumericColumn(schema, "weightCol", s.getWeightCol());
        return outputSchema(schema, p, classifier ? -1 : 0);
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
        ParamsConfig.config(p);
        requireStringColumn(schema, "textCol", p.getTextCol());
        StructType out = schema;
        out = Schemas.addOutput(out, "logLikelihoodCol", p.getLogLikelihoodCol(), DataTypes.DoubleType);
        out = Schemas.addOutput(out, "numTargetsCol", p.getNumTargetsCol(), DataTypes.IntegerType);
        out = Schemas.addOutput(out, "perplexityCol", p.getPerplexityCol(), DataTypes.DoubleType);
        out = Schemas.addOutput(out, "predictionCol", p.getPredictionCol(), DataTypes.StringType);
        return out;
    }
}
