package org.sparkmoe.data;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.DataFrameReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.sparkmoe.core.network.NetworkSpec.Task;

/**
 * Where and how to read feature vectors for classification or regression: libsvm, parquet or CSV
 * files, with features in one vector column (ml {@code Vector}, dense or sparse, or an array of
 * numbers) or in several numeric columns, and a label column (classification: class ids 0..C-1,
 * whole-number doubles accepted) or one or more numeric target columns (regression).
 * <p>
 * {@link #read} validates every row on the executors (one job that returns a few numbers per input
 * split, never the data) and fails with a {@link FeatureDataException} naming the file, the row and
 * the column of the first offending row of the input; it returns a {@link FeatureTable} whose blocks
 * are built lazily by a second pass. Defaults: classification, label column {@code label}; for libsvm
 * the vector column {@code features}; for parquet the column {@code features} if it is a vector or
 * array, else every numeric column but the label/targets; for CSV (header line required, values parsed
 * as doubles) every column but the label/targets. Blocks of up to 4096 rows.
 */
public final class FeatureSource {

    /** The input file formats. */
    public enum Format { LIBSVM, PARQUET, CSV }

    private final Format format;
    private final String[] paths;
    private Task task = Task.CLASSIFICATION;
    private String labelColumn = "label";
    private String[] targetColumns;
    private String vectorColumn;
    private String[] featureColumns;
    private String weightColumn;
    private int numFeatures;
    private int numClasses;
    private int blockSize = 4096;
    private final Map<String, String> options = new LinkedHashMap<>();

    private FeatureSource(Format format, String... paths) {
        if (paths == null || paths.length == 0) throw new IllegalArgumentException("no feature input path given");
        for (String p : paths) {
            if (p == null || p.isBlank()) throw new IllegalArgumentException("blank feature input path in " + Arrays.toString(paths));
        }
        this.format = format;
        this.paths = paths.clone();
    }

    /** libsvm text ("label index:value ...", 1-based ascending indices), read by Spark's libsvm source. */
    public static FeatureSource libsvm(String... paths) {
        return new FeatureSource(Format.LIBSVM, paths);
    }

    public static FeatureSource parquet(String... paths) {
        return new FeatureSource(Format.PARQUET, paths);
    }

    /** CSV with a header line; feature, label and target values are parsed as doubles. */
    public static FeatureSource csv(String... paths) {
        return new FeatureSource(Format.CSV, paths);
    }

    public static FeatureSource of(Format format, String... paths) {
        return new FeatureSource(format, paths);
    }

    /** CLASSIFICATION (the default) or REGRESSION. */
    public FeatureSource task(Task t) {
        if (t != Task.CLASSIFICATION && t != Task.REGRESSION) {
            throw new IllegalArgumentException("feature input is for CLASSIFICATION or REGRESSION, not " + t);
        }
        this.task = t;
        return this;
    }

    /** Classification with labels in {@code column}. */
    public FeatureSource classification(String column) {
        this.task = Task.CLASSIFICATION;
        this.labelColumn = column;
        return this;
    }

    /** Regression on the numeric {@code columns} (one target each; default: the label column alone). */
    public FeatureSource regression(String... columns) {
        this.task = Task.REGRESSION;
        this.targetColumns = columns.length == 0 ? null : columns.clone();
        return this;
    }

    /** The label column (classification; for regression the single target if none other is named). Default {@code label}. */
    public FeatureSource labelColumn(String column) {
        this.labelColumn = column;
        return this;
    }

    /** Features in one column: an ml Vector (dense or sparse) or an array of numbers. */
    public FeatureSource vectorColumn(String column) {
        this.vectorColumn = column;
        this.featureColumns = null;
        return this;
    }

    /** Features in these numeric columns, in this order. */
    public FeatureSource featureColumns(String... columns) {
        if (columns.length == 0) throw new IllegalArgumentException("no feature columns given");
        this.featureColumns = columns.clone();
        this.vectorColumn = null;
        return this;
    }

    /** The feature count every row must have (libsvm: indices 1..n). Default: taken from the data. */
    public FeatureSource numFeatures(int n) {
        if (n <= 0) throw new IllegalArgumentException("numFeatures must be positive, got " + n);
        this.numFeatures = n;
        return this;
    }

    /**
     * A numeric column of example weights (finite, {@code >= 0}; parquet and CSV), excluded from the
     * default feature columns; null or empty: every row weighs 1.
     */
    public FeatureSource weightColumn(String column) {
        this.weightColumn = column == null || column.isEmpty() ? null : column;
        return this;
    }

    /** The class count (labels must be below it). Default: the largest label + 1. */
    public FeatureSource numClasses(int c) {
        if (c <= 0) throw new IllegalArgumentException("numClasses must be positive, got " + c);
        this.numClasses = c;
        return this;
    }

    /** Rows per block, at most (default 4096). */
    public FeatureSource blockSize(int rows) {
        if (rows <= 0) throw new IllegalArgumentException("block size must be positive, got " + rows);
        this.blockSize = rows;
        return this;
    }

    /** An option passed to Spark's reader (e.g. CSV {@code sep}). */
    public FeatureSource option(String key, String value) {
        options.put(key, value);
        return this;
    }

    /** The input paths as one string, as they appear in messages. */
    public String input() {
        return paths.length == 1 ? paths[0] : String.join(", ", paths);
    }

    /** Validates the input (a Spark job) and returns the table; throws {@link FeatureDataException} for bad input. */
    public FeatureTable read(SparkSession spark) {
        String input = input();
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        List<Path> files = checkFilesExist(conf);
        Dataset<Row> df;
        try {
            DataFrameReader r = reader(spark);
            if (format == Format.PARQUET && !options.containsKey("mergeSchema")) r = r.schema(parquetSchema(conf, files));
            df = r.load(paths);
        } catch (RuntimeException e) {
            if (format == Format.LIBSVM) throwBadLibsvmRow(input, files, conf, e);
            if (format == Format.CSV) throwBadCsvRow(input, files, conf, e);
            throw new FeatureDataException("feature input " + input + ": could not read as " + format + ": "
                    + rootMessage(e), e);
        }
        StructType schema = df.schema();
        String[] targets = task == Task.CLASSIFICATION ? new String[] {labelColumn}
                : (targetColumns != null ? targetColumns : new String[] {labelColumn});
        for (String t : targets) requireColumn(schema, t, input);
        for (String t : targets) requireNumeric(schema, t, input, "label/target");
        if (weightColumn != null) {
            if (format == Format.LIBSVM) {
                throw new FeatureDataException("feature input " + input + ": libsvm has no weight column ('" + weightColumn
                        + "'); use parquet or CSV", null, -1, weightColumn, null);
            }
            requireColumn(schema, weightColumn, input);
            requireNumeric(schema, weightColumn, input, "weight");
        }

        FeatureRowParser.Mode mode;
        String[] feats;
        if (format == Format.LIBSVM) {
            mode = FeatureRowParser.Mode.VECTOR;
            feats = new String[] {"features"};
        } else if (featureColumns != null) {
            mode = FeatureRowParser.Mode.COLUMNS;
            feats = featureColumns;
        } else if (vectorColumn != null) {
            requireColumn(schema, vectorColumn, input);
            mode = vectorMode(schema.apply(vectorColumn), vectorColumn, input);
            feats = new String[] {vectorColumn};
        } else if (format == Format.PARQUET && has(schema, "features") && isVectorLike(schema.apply("features").dataType())) {
            mode = vectorMode(schema.apply("features"), "features", input);
            feats = new String[] {"features"};
        } else {
            List<String> all = new ArrayList<>();
            List<String> ts = Arrays.asList(targets);
            for (StructField f : schema.fields()) {
                if (ts.contains(f.name()) || f.name().equals(weightColumn)) continue;
                if (format == Format.CSV || f.dataType() instanceof NumericType) all.add(f.name());
            }
            if (all.isEmpty()) {
                throw new FeatureDataException("feature input " + input + ": no feature columns (numeric columns besides "
                        + ts + "); columns: " + describe(schema));
            }
            mode = FeatureRowParser.Mode.COLUMNS;
            feats = all.toArray(new String[0]);
        }
        if (mode == FeatureRowParser.Mode.COLUMNS) {
            for (String c : feats) requireColumn(schema, c, input);
            for (String c : feats) requireNumeric(schema, c, input, "feature");
            if (numFeatures > 0 && numFeatures != feats.length) {
                throw new FeatureDataException("feature input " + input + ": numFeatures is " + numFeatures + " but "
                        + feats.length + " feature columns were named: " + Arrays.toString(feats));
            }
        }

        List<Column> cols = new ArrayList<>();
        for (String c : feats) cols.add(functions.col(quote(c)));
        for (String c : targets) cols.add(functions.col(quote(c)));
        if (weightColumn != null) cols.add(functions.col(quote(weightColumn)));
        cols.add(functions.col("_metadata.file_path"));
        cols.add(functions.col("_metadata.file_block_start"));
        JavaRDD<Row> rows = df.select(cols.toArray(new Column[0])).javaRDD();

        boolean libsvm = format == Format.LIBSVM;
        FeatureRowParser parser = new FeatureRowParser(task, mode, libsvm, feats,
                targets, task == Task.CLASSIFICATION ? numClasses : 0, weightColumn);
        // The executors check sizes when the size is known in advance (libsvm: only indices beyond it).
        int known = mode == FeatureRowParser.Mode.COLUMNS ? feats.length : (numFeatures > 0 ? numFeatures : -1);
        FeatureSurvey survey;
        try {
            survey = FeatureSurvey.run(rows, parser, known);
        } catch (RuntimeException e) {
            if (format == Format.LIBSVM) throwBadLibsvmRow(input, files, conf, e);
            if (format == Format.CSV) throwBadCsvRow(input, files, conf, e);
            throw new FeatureDataException("feature input " + input + ": reading " + format + " failed: " + rootMessage(e), e);
        } catch (Exception e) {
            // a failed task: SparkException, which collect() throws undeclared; passed on unchanged otherwise
            if (format == Format.LIBSVM) throwBadLibsvmRow(input, files, conf, e);
            if (format == Format.CSV) throwBadCsvRow(input, files, conf, e);
            throw FeatureSource.<RuntimeException>rethrow(e);
        }
        if (survey.rows == 0) throw new FeatureDataException("feature input " + input + " has no rows");
        int dim = known > 0 ? known : survey.featureCount(numFeatures, libsvm);
        survey.failOnFirstProblem(input, dim, known >= 0 || libsvm, feats[0]);
        if (dim <= 0) throw new FeatureDataException("feature input " + input + ": no features (all vectors are empty)");
        int classes = 0;
        if (task == Task.CLASSIFICATION) {
            classes = numClasses > 0 ? numClasses : (int) (survey.maxLabel() + 1);
        }
        HashMap<String, Long> offsets = survey.idOffsets();
        return new FeatureTable(task, input, dim, classes, task == Task.CLASSIFICATION ? 0 : targets.length, survey.rows,
                blockSize, rows, parser, offsets, 0, 0, 0);
    }

    private DataFrameReader reader(SparkSession spark) {
        DataFrameReader r = spark.read();
        switch (format) {
            case LIBSVM -> {
                // Sparse vectors of a huge declared size: Spark then skips its own pass to find the
                // feature count, and our survey reports an index beyond numFeatures with its row.
                r = r.format("libsvm").option("numFeatures", Integer.toString(Integer.MAX_VALUE))
                        .option("vectorType", "sparse");
            }
            case PARQUET -> r = r.format("parquet");
            case CSV -> r = r.format("csv").option("header", "true").option("inferSchema", "false")
                    .option("mode", "FAILFAST");
        }
        for (Map.Entry<String, String> e : options.entrySet()) r = r.option(e.getKey(), e.getValue());
        return r;
    }

    /** Missing paths and inputs without data (no files, or only empty ones) fail here, naming the path. */
    private List<Path> checkFilesExist(Configuration conf) {
        List<Path> data = new ArrayList<>();
        for (String p : paths) {
            try {
                Path path = new Path(p);
                FileSystem fs = path.getFileSystem(conf);
                FileStatus[] matches = fs.globStatus(path);
                if (matches == null || matches.length == 0) {
                    throw new FeatureDataException("feature input " + p + " does not exist");
                }
                long bytes = 0;
                int files = 0;
                for (FileStatus m : matches) {
                    if (m.isFile()) {
                        files++;
                        bytes += m.getLen();
                        if (m.getLen() > 0) data.add(m.getPath());
                        continue;
                    }
                    RemoteIterator<LocatedFileStatus> it = fs.listFiles(m.getPath(), true);
                    while (it.hasNext()) {
                        LocatedFileStatus s = it.next();
                        if (hidden(s.getPath(), m.getPath())) continue;
                        files++;
                        bytes += s.getLen();
                        if (s.getLen() > 0) data.add(s.getPath());
                    }
                }
                if (files == 0) throw new FeatureDataException("feature input " + p + " is empty: no data files");
                if (bytes == 0) throw new FeatureDataException("feature input " + p + " is empty: " + files + " file(s) of 0 bytes");
            } catch (IOException e) {
                throw new FeatureDataException("feature input " + p + ": cannot list: " + e.getMessage(), e);
            }
        }
        data.sort(null);
        return data;
    }

    /**
     * The schema of parquet input, from the footer of its first data file, read here on the driver:
     * Spark's own inference runs a job whose results (StructTypes) are not Kryo-registered, which fails
     * under {@code spark.kryo.registrationRequired=true}. Spark's row metadata when present (it keeps
     * vector types), else the converted parquet schema.
     */
    private StructType parquetSchema(Configuration conf, List<Path> files) {
        Path first = files.get(0);
        try (org.apache.parquet.hadoop.ParquetFileReader reader = org.apache.parquet.hadoop.ParquetFileReader.open(
                org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(first, conf))) {
            org.apache.parquet.hadoop.metadata.FileMetaData meta = reader.getFooter().getFileMetaData();
            String json = meta.getKeyValueMetaData().get("org.apache.spark.sql.parquet.row.metadata");
            if (json != null) {
                DataType t = DataType.fromJson(json);
                if (t instanceof StructType st) return st;
            }
            return new org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(conf)
                    .convert(meta.getSchema());
        } catch (IOException | RuntimeException e) {
            throw new FeatureDataException("feature input " + input() + ": cannot read the parquet footer of " + first
                    + ": " + rootMessage(e), e);
        }
    }

    /** Whether a file under {@code root} is one Spark skips (a name, or a folder on the way, starting with _ or .). */
    private static boolean hidden(Path file, Path root) {
        for (Path q = file; q != null && !q.equals(root) && q.depth() > root.depth(); q = q.getParent()) {
            String n = q.getName();
            if ((n.startsWith("_") && !n.contains("=")) || n.startsWith(".")) return true;
        }
        return false;
    }

    private static FeatureRowParser.Mode vectorMode(StructField f, String column, String input) {
        DataType t = f.dataType();
        if (t.equals(SQLDataTypes.VectorType())) return FeatureRowParser.Mode.VECTOR;
        if (t instanceof ArrayType a && (a.elementType() instanceof NumericType || a.elementType() instanceof StringType)) {
            return FeatureRowParser.Mode.ARRAY;
        }
        throw new FeatureDataException("feature input " + input + ": column '" + column + "' has type "
                + t.simpleString() + ", not a vector or an array of numbers", null, -1, column, null);
    }

    private static boolean isVectorLike(DataType t) {
        return t.equals(SQLDataTypes.VectorType()) || (t instanceof ArrayType a && a.elementType() instanceof NumericType);
    }

    private void requireNumeric(StructType schema, String c, String input, String role) {
        DataType t = schema.apply(c).dataType();
        if (t instanceof NumericType || (t instanceof StringType && format == Format.CSV)) return;
        throw new FeatureDataException("feature input " + input + ": " + role + " column '" + c + "' has type "
                + t.simpleString() + ", not numeric", null, -1, c, null);
    }

    private static void requireColumn(StructType schema, String c, String input) {
        if (!has(schema, c)) {
            throw new FeatureDataException("feature input " + input + ": no column '" + c + "'; available columns: "
                    + describe(schema), null, -1, c, null);
        }
    }

    private static boolean has(StructType schema, String c) {
        return Arrays.asList(schema.fieldNames()).contains(c);
    }

    private static String describe(StructType schema) {
        List<String> out = new ArrayList<>();
        for (StructField f : schema.fields()) out.add(f.name() + " (" + f.dataType().simpleString() + ")");
        return String.join(", ", out);
    }

    private static String quote(String c) {
        return "`" + c.replace("`", "``") + "`";
    }

    /** Spark's libsvm reader names no row: find the one it choked on and throw for it (no-op if none is found). */
    private static void throwBadLibsvmRow(String input, List<Path> files, Configuration conf, Exception failure) {
        FeatureDataException bad;
        try {
            bad = LibsvmLines.firstBadRow(input, files, conf, failure);
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
            return;
        }
        if (bad != null) throw bad;
    }

    /** Spark's CSV reader names no line for a malformed record: find the first line with a wrong field count (no-op if none). */
    private void throwBadCsvRow(String input, List<Path> files, Configuration conf, Exception failure) {
        String sep = options.getOrDefault("sep", options.getOrDefault("delimiter", ","));
        if (sep.length() != 1) return;
        FeatureDataException bad;
        try {
            bad = CsvLines.firstBadRow(input, files, sep.charAt(0), conf, failure);
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
            return;
        }
        if (bad != null) throw bad;
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> T rethrow(Throwable t) throws T {
        throw (T) t;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
