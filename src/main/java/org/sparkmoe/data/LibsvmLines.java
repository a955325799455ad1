package org.sparkmoe.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;

/**
 * Finds the line of libsvm text that Spark's libsvm reader cannot parse. Spark fails such a file
 * with a bare {@code NumberFormatException} or index error that names neither file nor line, so
 * after a failed read the files are scanned here, in order, applying the reader's rules: lines are
 * trimmed, empty lines and {@code #} comments skipped; a row is {@code label index:value ...} with
 * a numeric label and 1-based ascending integer indices.
 */
final class LibsvmLines {
    private LibsvmLines() {
    }

    /**
     * The first unparseable row of {@code files}, as the exception to throw (with {@code cause}, Spark's
     * failure); null when every row parses.
     */
    static FeatureDataException firstBadRow(String input, List<Path> files, Configuration conf, Throwable cause) throws IOException {
        CompressionCodecFactory codecs = new CompressionCodecFactory(conf);
        for (Path file : files) {
            try (BufferedReader r = reader(codecs, file, conf)) {
                long row = 0;
                long lineNo = 0;
                for (String line; (line = r.readLine()) != null; ) {
                    lineNo++;
                    String t = line.trim();
                    if (t.isEmpty() || t.startsWith("#")) continue;
                    String[] problem = problem(t);
                    if (problem != null) {
                        String shown = t.length() > 80 ? t.substring(0, 80) + "..." : t;
                        return new FeatureDataException("feature input " + input + ": file " + file + ", row " + row
                                + " (0-based data row of that file; line " + lineNo + "), column '" + problem[0] + "': " + problem[1]
                                + ": \"" + shown + "\"", file.toString(), row, problem[0], cause);
                    }
                    row++;
                }
            }
        }
        return null;
    }

    /** A text file's lines, decompressed as Spark's text sources do (by its extension). */
    static BufferedReader reader(CompressionCodecFactory codecs, Path file, Configuration conf) throws IOException {
        CompressionCodec codec = codecs.getCodec(file);
        InputStream raw = file.getFileSystem(conf).open(file);
        return new BufferedReader(new InputStreamReader(codec == null ? raw : codec.createInputStream(raw), StandardCharsets.UTF_8));
    }

    /** {column, what is wrong} for a trimmed data line, or null when it parses. */
    static String[] problem(String line) {
        String[] items = line.split(" ");
        try {
            Double.parseDouble(items[0]);
        } catch (NumberFormatException e) {
            return new String[] {"label", items[0].contains(":") ? "the row has no label (it starts with the feature '"
                    + items[0] + "'; libsvm rows are 'label index:value ...')" : "label '" + items[0] + "' is not a number"};
        }
        int previous = 0;
        for (int i = 1; i < items.length; i++) {
            if (items[i].isEmpty()) continue;
            String[] iv = items[i].split(":");
            if (iv.length != 2) return new String[] {"features", "'" + items[i] + "' is not index:value"};
            int index;
            try {
                index = Integer.parseInt(iv[0]);
                Double.parseDouble(iv[1]);
            } catch (NumberFormatException e) {
                return new String[] {"features", "'" + items[i] + "' is not index:value with an integer index and a number"};
            }
            if (index <= previous) {
                return new String[] {"features", "index " + index + " after " + previous
                        + " (indices are 1-based and ascending)"};
            }
            previous = index;
        }
        return null;
    }
}
