package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The pool's hand-out rules: a set goes to its own generation again, or to one at least minAge later. */
class ExpertPoolTest {
    private static final String RUN = "expert-pool-test";

    @AfterEach
    void clear() {
        ExpertPool.release(RUN);
    }

    @Test
    void stateBuffersSkipTheLiveGeneration() {
        Object s1 = new Object(), s2 = new Object();
        ExpertPool.put(RUN, 0, ExpertPool.Kind.STATE, 1, s1);
        ExpertPool.put(RUN, 0, ExpertPool.Kind.STATE, 2, s2);
        // the update of step 3 reads state 2 and may write over state 1 only
        assertSame(s1, ExpertPool.take(RUN, 0, ExpertPool.Kind.STATE, 3, 2));
        // ... which now holds generation 3: a retry of step 3 gets it again, step 4 gets state 2's
        assertSame(s1, ExpertPool.take(RUN, 0, ExpertPool.Kind.STATE, 3, 2));
        assertSame(s2, ExpertPool.take(RUN, 0, ExpertPool.Kind.STATE, 4, 2));
        // a recomputation of step 2 after an executor loss finds nothing dead enough and allocates
        assertNull(ExpertPool.take(RUN, 0, ExpertPool.Kind.STATE, 2, 2));
    }

    @Test
    void keysSeparateShardsKindsAndRuns() {
        Object g = new Object();
        ExpertPool.put(RUN, 1, ExpertPool.Kind.GRADIENTS, 5, g);
        assertNull(ExpertPool.take(RUN, 0, ExpertPool.Kind.GRADIENTS, 6, 1));
        assertNull(ExpertPool.take(RUN, 1, ExpertPool.Kind.ACTIVATIONS, 6, 1));
        assertNull(ExpertPool.take(RUN + "-other", 1, ExpertPool.Kind.GRADIENTS, 6, 1));
        assertSame(g, ExpertPool.take(RUN, 1, ExpertPool.Kind.GRADIENTS, 6, 1));
        assertEquals(1, ExpertPool.size(RUN));
    }

    @Test
    void retaggedAndReleasedSetsAreNotHandedOut() {
        Object live = new Object();
        ExpertPool.put(RUN, 0, ExpertPool.Kind.STATE, 10, live);
        // updated in place to step 12: no longer a dead set of step 10 that the update of step 13 may take
        ExpertPool.retag(RUN, 0, ExpertPool.Kind.STATE, set -> set == live, 12);
        assertEquals(12, ExpertPool.newest(RUN, 0, ExpertPool.Kind.STATE));
        assertNull(ExpertPool.take(RUN, 0, ExpertPool.Kind.STATE, 13, 2));
        ExpertPool.put(RUN, 0, ExpertPool.Kind.STATE, 11, new Object());
        ExpertPool.release(RUN);
        assertEquals(0, ExpertPool.size(RUN));
        assertNull(ExpertPool.take(RUN, 0, ExpertPool.Kind.STATE, 13, 2));
    }

    @Test
    void recycledSetsComeOnlyFromFinishedSteps() {
        java.util.function.Supplier<Object> fresh = Object::new;
        Object a = ExpertPool.recycle(RUN, 0, ExpertPool.Kind.PARTITION_COMBINE, 1, fresh);
        // a retried or speculative attempt of step 1 must not share the first attempt's arrays
        Object retry = ExpertPool.recycle(RUN, 0, ExpertPool.Kind.PARTITION_COMBINE, 1, fresh);
        assertNotSame(a, retry);
        // step 2 gets step 1's set (the retry's, the one registered last) ...
        assertSame(retry, ExpertPool.recycle(RUN, 0, ExpertPool.Kind.PARTITION_COMBINE, 2, fresh));
        // ... and a lineage recomputation of step 1 while step 2 runs gets a set that is not pooled
        Object recompute = ExpertPool.recycle(RUN, 0, ExpertPool.Kind.PARTITION_COMBINE, 1, fresh);
        assertNotSame(retry, recompute);
        assertSame(retry, ExpertPool.recycle(RUN, 0, ExpertPool.Kind.PARTITION_COMBINE, 3, fresh));
        assertEquals(1, ExpertPool.size(RUN));
    }
}
