package org.sparkmoe.data;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.LongWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.lib.input.FileSplit;
import org.apache.hadoop.mapreduce.lib.input.TextInputFormat;
import org.apache.spark.api.java.JavaNewHadoopRDD;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

import scala.Tuple2;

/**
 * Reads text documents as {@code (documentId, text)} pairs from anything Spark reads:
 * <ul>
 * <li>text files ({@link #textFiles}): one or many comma-separated paths, globs or directories
 * (Hadoop compression codecs apply); each FILE is a document (id = the file's URI) or each LINE is
 * a document (id = {@code fileUri:byteOffset} of the line's start);</li>
 * <li>a string column of a Parquet or CSV table ({@link #parquet}, {@link #csv}): id =
 * {@code fileUri#h} with h the 64-bit xxHash of the text (hex). Identical texts in one file share an
 * id, so they always fall on the same side of a held-out split.</li>
 * </ul>
 * Ids depend only on the input files and their contents, never on partitioning. Paths matching no
 * file, or matching only empty files, are an error naming the path.
 */
public final class TextSource {
    /** What one document is in text files. */
    public enum DocumentMode {
        /** Each file is one document. */
        FILE,
        /** Each line is one document. */
        LINE
    }

    private TextSource() {
    }

    /** Text files with the given document mode; {@code minPartitions} as in Spark's readers. */
    public static JavaPairRDD<String, String> textFiles(JavaSparkContext sc, String paths, DocumentMode mode, int minPartitions) {
        checkInput(paths, sc.hadoopConfiguration());
        if (mode == DocumentMode.FILE) {
            return sc.wholeTextFiles(paths, minPartitions);
        }
        Configuration conf = new Configuration(sc.hadoopConfiguration());
        conf.set("mapreduce.input.fileinputformat.inputdir", escapeForInputDir(paths, conf));
        conf.setBoolean("mapreduce.input.fileinputformat.input.dir.recursive", false);
        JavaPairRDD<LongWritable, Text> lines = sc.newAPIHadoopRDD(conf, TextInputFormat.class, LongWritable.class, Text.class);
        // the input split names the file; the key is the line's byte offset in it
        return ((JavaNewHadoopRDD<LongWritable, Text>) lines).mapPartitionsWithInputSplit((split, it) -> {
            String file = ((FileSplit) split).getPath().toString();
            return new java.util.Iterator<Tuple2<String, String>>() {
                @Override
                public boolean hasNext() {
                    return it.hasNext();
                }

                @Override
                public Tuple2<String, String> next() {
                    Tuple2<LongWritable, Text> t = it.next();
                    return new Tuple2<>(file + ":" + t._1().get(), t._2().toString());
                }
            };
        }, true).mapToPair(t -> t);
    }

    /** The string column {@code column} of a Parquet table (file, directory or glob). */
    public static JavaPairRDD<String, String> parquet(SparkSession spark, String path, String column) {
        checkInput(path, spark.sparkContext().hadoopConfiguration());
        return column(spark.read().parquet(path), path, column);
    }

    /**
     * The string column {@code column} of a CSV table; with {@code header} the column is named by the
     * header line, else Spark names columns {@code _c0, _c1, ...}. Quoted multi-line fields are read.
     */
    public static JavaPairRDD<String, String> csv(SparkSession spark, String path, String column, boolean header) {
        checkInput(path, spark.sparkContext().hadoopConfiguration());
        Dataset<Row> df = spark.read().option("header", header).option("multiLine", true).option("inferSchema", false).csv(path);
        return column(df, path, column);
    }

    private static JavaPairRDD<String, String> column(Dataset<Row> df, String path, String column) {
        StructField field = null;
        for (StructField f : df.schema().fields()) {
            if (f.name().equals(column)) field = f;
        }
        if (field == null) {
            throw new IllegalArgumentException("no column '" + column + "' in " + path + "; available columns: "
                    + Arrays.toString(df.schema().fieldNames()));
        }
        if (!field.dataType().equals(DataTypes.StringType)) {
            throw new IllegalArgumentException("column '" + column + "' of " + path + " has type " + field.dataType().simpleString()
                    + ", expected a string column");
        }
        Column text = functions.col("`" + column.replace("`", "``") + "`");
        Column id = functions.concat(functions.input_file_name(), functions.lit("#"),
                functions.lower(functions.hex(functions.xxhash64(functions.coalesce(text, functions.lit(""))))));
        return df.select(id.as("id"), text.as("text")).javaRDD()
                .mapToPair(r -> new Tuple2<>(r.getString(0), r.isNullAt(1) ? "" : r.getString(1)));
    }

    /**
     * Fails unless every comma-separated entry of {@code paths} matches at least one file (a
     * directory counts by its visible files) and the matched files are not all empty.
     */
    static void checkInput(String paths, Configuration conf) {
        if (paths == null || paths.isBlank()) throw new IllegalArgumentException("no input path given");
        long bytes = 0;
        for (String p : splitPaths(paths)) {
            List<FileStatus> files = new ArrayList<>();
            try {
                Path path = new Path(p);
                FileSystem fs = path.getFileSystem(conf);
                FileStatus[] matched = fs.globStatus(path);
                if (matched != null) {
                    for (FileStatus s : matched) {
                        if (s.isDirectory()) {
                            for (FileStatus c : fs.listStatus(s.getPath())) {
                                if (c.isFile() && visible(c.getPath())) files.add(c);
                            }
                        } else {
                            files.add(s);
                        }
                    }
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot list input " + p + ": " + e.getMessage(), e);
            }
            if (files.isEmpty()) throw new IllegalArgumentException("input " + p + " matches no files");
            for (FileStatus f : files) bytes += f.getLen();
        }
        if (bytes == 0) throw new IllegalArgumentException("input " + paths + " is empty (all matched files have 0 bytes)");
    }

    /**
     * The file a document id of this class names: the id itself (a file), the part before
     * {@code :byteOffset} (a line) or before {@code #hash} (a Parquet/CSV row). Null for an id that
     * is not a file URI (documents from elsewhere, the synthetic corpus).
     */
    static String fileOf(String documentId) {
        if (documentId == null || !documentId.contains(":/")) return null;
        int hash = documentId.lastIndexOf('#');
        if (hash > 0) return documentId.substring(0, hash);
        int colon = documentId.lastIndexOf(':');
        if (colon > 0 && colon < documentId.length() - 1 && documentId.indexOf('/', colon) < 0) {
            boolean digits = true;
            for (int i = colon + 1; i < documentId.length() && digits; i++) digits = Character.isDigit(documentId.charAt(i));
            if (digits) return documentId.substring(0, colon);
        }
        return documentId;
    }

    private static boolean visible(Path p) {
        String n = p.getName();
        return !n.startsWith("_") && !n.startsWith(".");
    }

    private static List<String> splitPaths(String paths) {
        List<String> out = new ArrayList<>();
        for (String s : org.apache.hadoop.util.StringUtils.split(paths)) {
            if (!s.isBlank()) out.add(s.trim());
        }
        return out;
    }

    private static String escapeForInputDir(String paths, Configuration conf) {
        // what FileInputFormat.setInputPaths(job, commaSeparatedPaths) stores: qualified, escaped paths
        StringBuilder sb = new StringBuilder();
        for (String p : splitPaths(paths)) {
            Path path = new Path(p);
            try {
                path = path.getFileSystem(conf).makeQualified(path);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot resolve input " + p + ": " + e.getMessage(), e);
            }
            if (sb.length() > 0) sb.append(',');
            sb.append(org.apache.hadoop.util.StringUtils.escapeString(path.toString()));
        }
        return sb.toString();
    }
}
