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
 * makes of the outputs (metrics, a parquet row, DataFrame columns) is its {@link Sink}.
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
