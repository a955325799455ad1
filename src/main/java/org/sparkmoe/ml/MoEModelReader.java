package org.sparkmoe.ml;

import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsReader$;
import org.apache.spark.ml.util.MLReader;

/**
 * Reads a saved MoE model (classification, regression, language model). Where its experts go: by default where the saved
 * model kept them (param {@code placement}: "sharded" gives a distributed table on
 * {@code expertShards} shards, "driver" a local one); {@link #local()} and {@link #distributed(int)}
 * override that, e.g. to score a model trained on the driver with its experts on the executors.
 */
public final class MoEModelReader<M extends Params> extends MLReader<M> {
    private final Class<M> type;
    private final MoEPersistence.ModelFactory<M> create;
    private Boolean distributed;
    private int shards;

    MoEModelReader(Class<M> type, MoEPersistence.ModelFactory<M> create) {
        this.type = type;
        this.create = create;
    }

    /** Loads the experts onto the driver. */
    public MoEModelReader<M> local() {
        distributed = false;
        return this;
    }

    /** Loads the experts as a distributed table on {@code shards} shards (at most the expert count). */
    public MoEModelReader<M> distributed(int shards) {
        if (shards < 1) throw new IllegalArgumentException("shards must be >= 1, got " + shards);
        this.distributed = true;
        this.shards = shards;
        return this;
    }

    @Override
    public M load(String path) {
        DefaultParamsReader.Metadata md = DefaultParamsReader$.MODULE$.loadMetadata(path, sparkSession(), type.getName());
        int saved = MoEPersistence.savedShards(md);
        boolean dist = distributed != null ? distributed : saved > 0;
        MoEPersistence.Loaded l = MoEPersistence.loadModel(path, sparkSession(), md, dist ? (distributed != null ? shards : saved) : 0);
        M model = create.create(path, md.uid(), l.spec(), l.shared(), l.experts());
        md.getAndSetParams(model, scala.Option.empty());
        return model;
    }
}

