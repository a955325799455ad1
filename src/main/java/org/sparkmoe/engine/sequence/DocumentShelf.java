package org.sparkmoe.engine.sequence;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

import scala.Tuple2;

/** The documents (word ids by document index) a data partition's streams read; one per partition, cached. */
final class DocumentShelf implements Serializable {
    private static final long serialVersionUID = 1L;
    private final int partition;
    private final Map<Long, int[]> documents = new HashMap<>();

    DocumentShelf(int partition, Iterator<Tuple2<Long, int[]>> documents) {
        this.partition = partition;
        documents.forEachRemaining(d -> this.documents.put(d._1(), d._2()));
    }

    int[] words(long document) {
        int[] w = documents.get(document);
        if (w == null) {
            throw new IllegalStateException("document " + document + " is not in data partition " + partition + " (" + documents.size()
                    + " documents): the documents RDD must hold every index of the layout's range");
        }
        return w;
    }
}
