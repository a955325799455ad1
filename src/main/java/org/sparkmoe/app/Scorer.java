package org.sparkmoe.app;

import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;

/**
 * The one scoring pass of both faces (the job's evaluate and score, the ML models' transform): on
 * an executor, one network and one workspace per partition, and each batch run through
 * {@link MoENetwork#predict} (no gating noise) {@link #CHUNK} examples at a time; what each face
 * makes of the outputs (metrics, a parquet row, DataFrame columns) is its {@link Sink}, reading the
 * prediction the same way ({@link #argmax}, {@link #row}).
 */
public final class Scorer {
    /** Examples per forward pass. */
    public static final int CHUNK = 1024;

    /** Takes the outputs of examples [from, from + chunk.size()) of a batch. */
    public interface Sink {
        /**
         * @param chunk   the examples
         * @param from    the first one's position in the batch
         * @param outputs the head's outputs (probabilities, or regression values), one row per example
         * @param gates   the chosen experts and gate values, rows from 0
         */
        void take(Batch chunk, int from, Matrix outputs, GatingState gates);
    }

    private final NetworkSpec spec;
    private final ModelParameters params;
    private final MoENetwork network;
    private final MoENetwork.Workspace workspace;

    /** A scorer of {@code params} (in their precision) for the network of {@code spec}. */
    public Scorer(NetworkSpec spec, ModelParameters params) {
        this.spec = spec;
        this.params = params;
        this.network = spec.build();
        this.workspace = network.newWorkspace(precision());
    }

    public Precision precision() {
        return params.shared().precision();
    }

    /** The column of row {@code r}'s largest output: the predicted class or token (the first of equal ones). */
    public static int argmax(Matrix o, int r) {
        int arg = 0;
        double best = o.get(r, 0);
        for (int c = 1; c < o.cols(); c++) {
            double x = o.get(r, c);
            if (x > best) {
                best = x;
                arg = c;
            }
        }
        return arg;
    }

    /** Row {@code r} of {@code o} as doubles (a row's class probabilities, or its regression values). */
    public static double[] row(Matrix o, int r) {
        double[] v = new double[o.cols()];
        for (int c = 0; c < v.length; c++) v[c] = o.get(r, c);
        return v;
    }

    /** Runs {@code batch} through the network a chunk at a time, handing each chunk's outputs to {@code sink}. */
    public void score(Batch batch, Sink sink) {
        for (int from = 0; from < batch.size(); from += CHUNK) {
            int n = Math.min(CHUNK, batch.size() - from);
            Batch chunk = batch.slice(from, n);
            Matrix o = precision().zeros(n, spec.outputs());
            network.predict(params, chunk, workspace, o);
            sink.take(chunk, from, o, workspace.moe().gate());
        }
    }
}
