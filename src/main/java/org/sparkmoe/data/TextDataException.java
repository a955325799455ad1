package org.sparkmoe.data;

/**
 * Text input that is not text: a file whose characters are largely invalid UTF-8 or control
 * characters (random bytes, a compressed or binary file under a text name). The message and
 * {@link #file()} name the file.
 */
public final class TextDataException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    private final String file;

    TextDataException(String file, String message) {
        super(message);
        this.file = file;
    }

    /** The offending file; null when the documents did not come from files. */
    public String file() {
        return file;
    }
}
