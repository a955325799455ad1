package org.sparkmoe.data;

/**
 * Bad feature-vector input: a missing or empty input, a missing or mistyped column, or an offending
 * row. For a row, {@link #file()}, {@link #row()} (0-based data row within that file, header
 * excluded) and {@link #column()} say where; the message names them too.
 */
public final class FeatureDataException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final long row;
    private final String column;

    FeatureDataException(String message) {
        this(message, null, -1, null, null);
    }

    FeatureDataException(String message, Throwable cause) {
        this(message, null, -1, null, cause);
    }

    FeatureDataException(String message, String file, long row, String column, Throwable cause) {
        super(message, cause);
        this.file = file;
        this.row = row;
        this.column = column;
    }

    /** The data file of the offending row; null when the problem is not one row's. */
    public String file() {
        return file;
    }

    /** The 0-based data row within {@link #file()}; -1 when the problem is not one row's. */
    public long row() {
        return row;
    }

    /** The offending column; null when the problem is not one column's. */
    public String column() {
        return column;
    }
}
