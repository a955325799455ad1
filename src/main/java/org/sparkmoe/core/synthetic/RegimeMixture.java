package org.sparkmoe.core.synthetic;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;

/**
 * Synthetic regression data from a known mixture of regimes: a regime r is drawn uniformly, the
 * input is x = c_r + N(0, I) around the regime's hidden centre c_r (|c_r| = SEPARATION, so the
 * regime is, but for rare overlaps, a function of x: the nearest centre), and the target is
 * t = A_r x + N(0, noise^2) per output with each regime's own random map A_r. The best possible
 * mean loss (0.5 ||yhat - t||^2) is then the noise floor 0.5 * outputs * noise^2.
 */
public final class RegimeMixture {
    /** Distance of each regime centre from the origin, in units of the input noise. */
    public static final double SEPARATION = 5.0;

    private final int inputDim, outputs, regimes;
    private final double noise;
    private final double[][] directions;
    private final double[][][] maps;

    public RegimeMixture(int inputDim, int outputs, int regimes, double noise, long seed) {
        this.inputDim = inputDim;
        this.outputs = outputs;
        this.regimes = regimes;
        this.noise = noise;
        SplittableRandom r = new SplittableRandom(seed);
        directions = new double[regimes][inputDim];
        maps = new double[regimes][outputs][inputDim];
        for (int g = 0; g < regimes; g++) {
            double norm = 0;
            for (int j = 0; j < inputDim; j++) {
                directions[g][j] = r.nextGaussian();
                norm += directions[g][j] * directions[g][j];
            }
            for (int j = 0; j < inputDim; j++) directions[g][j] *= SEPARATION / Math.sqrt(norm);
            for (int o = 0; o < outputs; o++) {
                for (int j = 0; j < inputDim; j++) maps[g][o][j] = r.nextGaussian() * 2 / Math.sqrt(inputDim);
            }
        }
    }

    public int inputDim() {
        return inputDim;
    }

    public int outputs() {
        return outputs;
    }

    public int regimes() {
        return regimes;
    }

    /** The best mean loss any model can reach. */
    public double noiseFloor() {
        return 0.5 * outputs * noise * noise;
    }

    /** Batch number {@code index} of {@code size} examples (ids index*size ...). */
    public Batch batch(int size, long index, Precision precision) {
        return batch(size, index, precision, -1);
    }

    /** As {@link #batch(int, long, Precision)}, all from regime {@code only} when it is >= 0. */
    public Batch batch(int size, long index, Precision precision, int only) {
        SplittableRandom r = new SplittableRandom(index * 0x9E3779B97F4A7C15L + 12345);
        Matrix features = precision.zeros(size, inputDim);
        Matrix targets = precision.zeros(size, outputs);
        long[] ids = new long[size];
        double[] x = new double[inputDim];
        for (int i = 0; i < size; i++) {
            ids[i] = index * size + i;
            int g = only >= 0 ? only : r.nextInt(regimes);
            for (int j = 0; j < inputDim; j++) {
                x[j] = directions[g][j] + r.nextGaussian();
                features.set(i, j, x[j]);
            }
            double[][] a = maps[g];
            for (int o = 0; o < outputs; o++) {
                double t = 0;
                for (int j = 0; j < inputDim; j++) t += a[o][j] * x[j];
                targets.set(i, o, t + noise * r.nextGaussian());
            }
        }
        return Batch.ofFeatures(size, ids, features, targets);
    }
}
