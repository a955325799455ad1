package org.sparkmoe.engine.sequence;

import java.io.Serializable;

import org.sparkmoe.core.recurrent.RecurrentState;

/**
 * Where one data partition's sequences stand between steps: the document and position of each of
 * its streams and their LSTM state (h, c of both layers). What a checkpoint keeps beside the
 * parameters, so that a resumed run continues every sequence where it stopped.
 *
 * @param partition the data partition
 * @param documents the document each stream is in ({@link org.sparkmoe.core.recurrent.DocumentStreams#documents()})
 * @param positions the next position of each stream in its document
 * @param state     the LSTM state leaving the last window (never changed once built: stages copy it)
 */
public record SequenceCursor(int partition, long[] documents, int[] positions, RecurrentState state) implements Serializable {
}
