package org.sparkmoe.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

class TokenizerTest {
    private static final String TEXT = "  Hello, World!\tIt's\u00a0 \"fine\"...\n";

    @Test
    void defaultsLowerCaseAndSplitPunctuation() {
        assertEquals(List.of("hello", ",", "world", "!", "it", "'", "s", "\"", "fine", "\"", ".", ".", "."),
                Tokenizer.defaults().tokens(TEXT));
    }

    @Test
    void dropAndAttach() {
        assertEquals(List.of("Hello", "World", "It", "s", "fine"), new Tokenizer(false, Tokenizer.Punctuation.DROP).tokens(TEXT));
        assertEquals(List.of("hello,", "world!", "it's", "\"fine\"..."), new Tokenizer(true, Tokenizer.Punctuation.ATTACH).tokens(TEXT));
    }

    @Test
    void emptyNullAndUnicode() {
        assertEquals(List.of(), Tokenizer.defaults().tokens(null));
        assertEquals(List.of(), Tokenizer.defaults().tokens(" \n\t "));
        assertEquals(List.of("café", "naïve", "u\u0308", "😀", "x"), Tokenizer.defaults().tokens("CAFÉ naïve u\u0308 😀x"));
        assertEquals(3, Tokenizer.defaults().forEach("a b.", t -> { }));
    }
}
