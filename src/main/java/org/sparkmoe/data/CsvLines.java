package org.sparkmoe.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodecFactory;

/**
 * Finds the CSV line that Spark's reader (FAILFAST) rejects as malformed, which its error names by
 * neither file nor line: after a failed read the files are scanned here, in order, for the first
 * data line whose field count differs from its file's header line (fields split on the separator
 * outside double quotes, as the reader does for single-line records).
 */
final class CsvLines {
    private CsvLines() {
    }

    /** The first line with a wrong field count, as the exception to throw (cause: Spark's failure); null when none. */
    static FeatureDataException firstBadRow(String input, List<Path> files, char sep, Configuration conf, Throwable cause)
            throws IOException {
        CompressionCodecFactory codecs = new CompressionCodecFactory(conf);
        for (Path file : files) {
            try (BufferedReader r = LibsvmLines.reader(codecs, file, conf)) {
                String header = r.readLine();
                if (header == null) continue;
                int expected = fields(header, sep);
                long row = 0;
                long lineNo = 1;
                for (String line; (line = r.readLine()) != null; ) {
                    lineNo++;
                    if (line.isEmpty()) continue;
                    int n = fields(line, sep);
                    if (n != expected) {
                        String shown = line.length() > 80 ? line.substring(0, 80) + "..." : line;
                        String col = n < expected ? "column " + (n + 1) + " of " + expected : "beyond column " + expected;
                        return new FeatureDataException("feature input " + input + ": file " + file + ", row " + row
                                + " (0-based data row of that file; line " + lineNo + "): " + n + " fields, the header has " + expected
                                + " (" + (n < expected ? "a missing column" : "an extra column") + "): \"" + shown + "\"",
                                file.toString(), row, col, cause);
                    }
                    row++;
                }
            }
        }
        return null;
    }

    /** The number of fields of a line: separators outside double quotes, plus one. */
    static int fields(String line, char sep) {
        int n = 1;
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '"') quoted = !quoted;
            else if (c == sep && !quoted) n++;
        }
        return n;
    }
}
