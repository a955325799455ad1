package org.sparkmoe.data;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Splits text into word tokens on whitespace (Unicode white space and space separators). Options:
 * <ul>
 * <li>{@code lowerCase} (default true): lower-case the text first ({@link Locale#ROOT});</li>
 * <li>{@link Punctuation}: what happens to punctuation and symbol characters, i.e. every character
 * that is not a letter, digit or combining mark: {@link Punctuation#SPLIT} (default) makes each one
 * a token of its own ("end." -> "end", "."), {@link Punctuation#DROP} removes them ("don't" ->
 * "don", "t"), {@link Punctuation#ATTACH} leaves them inside the words (plain whitespace split).</li>
 * </ul>
 * The only objects made per token are the token strings themselves ({@link #forEach}).
 */
public final class Tokenizer implements Serializable {
    private static final long serialVersionUID = 1L;

    /** What the tokenizer does with punctuation and symbol characters. */
    public enum Punctuation {
        /** Each punctuation character becomes a token of its own (the default). */
        SPLIT,
        /** Punctuation characters are removed (they separate words like whitespace does). */
        DROP,
        /** Punctuation stays part of the surrounding word: split on whitespace only. */
        ATTACH
    }

    private final boolean lowerCase;
    private final Punctuation punctuation;

    public Tokenizer(boolean lowerCase, Punctuation punctuation) {
        if (punctuation == null) throw new IllegalArgumentException("punctuation must be SPLIT, DROP or ATTACH");
        this.lowerCase = lowerCase;
        this.punctuation = punctuation;
    }

    /** Lower case, punctuation split off. */
    public static Tokenizer defaults() {
        return new Tokenizer(true, Punctuation.SPLIT);
    }

    public boolean lowerCase() {
        return lowerCase;
    }

    public Punctuation punctuation() {
        return punctuation;
    }

    /** Passes every token of {@code text} to {@code sink}, in order; returns the token count. Null text has none. */
    public int forEach(String text, Consumer<String> sink) {
        if (text == null) return 0;
        String s = lowerCase ? text.toLowerCase(Locale.ROOT) : text;
        int n = s.length(), count = 0, start = -1;
        for (int i = 0; i < n; ) {
            int cp = s.codePointAt(i);
            int len = Character.charCount(cp);
            if (isSpace(cp)) {
                if (start >= 0) {
                    sink.accept(s.substring(start, i));
                    count++;
                    start = -1;
                }
            } else if (punctuation != Punctuation.ATTACH && !isWordChar(cp)) {
                if (start >= 0) {
                    sink.accept(s.substring(start, i));
                    count++;
                    start = -1;
                }
                if (punctuation == Punctuation.SPLIT) {
                    sink.accept(s.substring(i, i + len));
                    count++;
                }
            } else if (start < 0) {
                start = i;
            }
            i += len;
        }
        if (start >= 0) {
            sink.accept(s.substring(start));
            count++;
        }
        return count;
    }

    /** The tokens of {@code text} as a list. */
    public List<String> tokens(String text) {
        List<String> out = new ArrayList<>();
        forEach(text, out::add);
        return out;
    }

    private static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp);
    }

    private static boolean isWordChar(int cp) {
        if (Character.isLetterOrDigit(cp)) return true;
        int t = Character.getType(cp);
        return t == Character.NON_SPACING_MARK || t == Character.COMBINING_SPACING_MARK || t == Character.ENCLOSING_MARK;
    }

    @Override
    public String toString() {
        return "Tokenizer[lowerCase=" + lowerCase + ", punctuation=" + punctuation + "]";
    }
}
