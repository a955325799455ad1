package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The local-routing step's fixed summation tree: the same floats, bit for bit, whether the
 * partitions are summed by 1, 2, 4 or 8 tasks (so a step does not depend on the cluster's cores),
 * and groups that are the tree's nodes, contiguous and covering every partition.
 */
class ReductionTreeTest {
    private static final int EXPERTS = 3;
    private static final ParameterLayout SHARED = ParameterLayout.builder().add("w", 5, 7).build();
    private static final ParameterLayout EXPERT = ParameterLayout.builder().add("v", 4, 6).build();

    @Test
    void groupsAreContiguousNodesCoveringEveryPartition() {
        assertArrayEquals(new int[]{0, 2, 4}, ReductionTree.of(4, EXPERTS, 2).starts());
        assertArrayEquals(new int[]{0, 1, 3}, ReductionTree.of(3, EXPERTS, 2).starts());
        assertArrayEquals(new int[]{0, 3, 7}, ReductionTree.of(7, EXPERTS, 3).starts());
        assertArrayEquals(new int[]{0, 1, 3, 5, 7}, ReductionTree.of(7, EXPERTS, 4).starts());
        assertArrayEquals(new int[]{0, 1}, ReductionTree.of(1, EXPERTS, 16).starts());
        assertArrayEquals(new int[]{0, 5}, ReductionTree.of(5, EXPERTS, 1).starts());
        assertEquals(4, ReductionTree.of(6, EXPERTS, 4).groups());
    }

    @Test
    void theSumDoesNotDependOnHowManyTasksRanThePartitions() {
        for (int partitions : new int[]{1, 2, 3, 4, 7, 8, 13}) {
            PartitionResult reference = null;
            for (int slots : new int[]{1, 2, 3, 4, 8, 16}) {
                ReductionTree tree = ReductionTree.of(partitions, EXPERTS, slots);
                List<PartitionResult> leaves = records(partitions, 42);
                List<PartitionResult> groups = new ArrayList<>();
                int[] starts = tree.starts();
                for (int g = 0; g < tree.groups(); g++) {
                    List<PartitionResult> mine = new ArrayList<>(leaves.subList(starts[g], starts[g + 1]));
                    java.util.Collections.reverse(mine); // arrival order does not matter
                    groups.add(tree.sumGroup(g, mine));
                }
                java.util.Collections.reverse(groups);
                PartitionResult root = tree.sumGroups(groups);
                if (reference == null) {
                    reference = root;
                    assertEquals(0, root.partition());
                    assertEquals(partitions * EXPERTS, root.expertCounts().length);
                    continue;
                }
                String at = partitions + " partitions, " + slots + " slots";
                assertArrayEquals(floats(reference.sharedGrad()), floats(root.sharedGrad()), at);
                for (int e = 0; e < EXPERTS; e++) {
                    if (reference.expertGrads()[e] == null) assertNull(root.expertGrads()[e], at);
                    else assertArrayEquals(floats(reference.expertGrads()[e]), floats(root.expertGrads()[e]), at);
                }
                assertEquals(reference.lossSum(), root.lossSum(), 0.0, at);
                assertEquals(reference.weightSum(), root.weightSum(), 0.0, at);
                assertEquals(reference.examples(), root.examples(), at);
                assertArrayEquals(reference.stats(), root.stats(), 0.0, at);
                assertArrayEquals(reference.expertCounts(), root.expertCounts(), at);
            }
        }
    }

    @Test
    void aMissingOrForeignRecordIsAnError() {
        ReductionTree tree = ReductionTree.of(4, EXPERTS, 2);
        List<PartitionResult> leaves = records(4, 1);
        assertThrows(IllegalStateException.class, () -> tree.sumGroup(0, leaves.subList(0, 1)));
        assertThrows(IllegalStateException.class, () -> tree.sumGroup(0, leaves.subList(1, 3)));
    }

    /** One record per data partition, its floats with many significant bits, so that any change of order shows. */
    private static List<PartitionResult> records(int partitions, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<PartitionResult> out = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            Parameters shared = random(SHARED, rnd);
            Parameters[] experts = new Parameters[EXPERTS];
            int[] counts = new int[EXPERTS];
            for (int e = 0; e < EXPERTS; e++) {
                if (rnd.nextInt(4) == 0) continue; // no rows for this expert in this partition
                experts[e] = random(EXPERT, rnd);
                counts[e] = 1 + rnd.nextInt(50);
            }
            double[] stats = {rnd.nextDouble() * 1e3, rnd.nextDouble(), rnd.nextDouble() * 1e-3};
            out.add(new PartitionResult(p, shared, rnd.nextDouble() * 100, 10 + p, rnd.nextDouble() * 17, stats, counts, 0, experts));
        }
        return out;
    }

    private static Parameters random(ParameterLayout layout, SplittableRandom rnd) {
        Parameters p = layout.allocate(Precision.F32);
        for (int c = 0; c < p.flat().cols(); c++) {
            for (int r = 0; r < p.flat().rows(); r++) p.flat().set(r, c, (rnd.nextDouble() - 0.5) * Math.exp(10 * rnd.nextDouble()));
        }
        return p;
    }

    private static float[] floats(Parameters p) {
        FloatMatrix m = (FloatMatrix) p.flat();
        float[] out = new float[m.rows() * m.cols()];
        for (int i = 0; i < out.length; i++) out[i] = (float) m.get(i / m.cols(), i % m.cols());
        return out;
    }
}
