package org.sparkmoe.ml;

import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.MLReader;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.core.network.NetworkSpec;

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
        try {
            java.util.Optional<org.apache.hadoop.fs.Path> dir = ModelDirectory.locate(path, sparkSession().sparkContext().hadoopConfiguration());
            if (dir.isPresent()) return fromJobModel(dir.get());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("reading the model at " + path + ": " + e.getMessage(), e);
        }
        DefaultParamsReader.Metadata md = MoEPersistence.loadMetadata(path, sparkSession(), type.getName());
        int saved = MoEPersistence.savedShards(md);
        boolean dist = distributed != null ? distributed : saved > 0;
        MoEPersistence.Loaded l = MoEPersistence.loadModel(path, sparkSession(), md, dist ? (distributed != null ? shards : saved) : 0);
        M model = create.create(path, md.uid(), l.spec(), l.shared(), l.experts());
        md.getAndSetParams(model, scala.Option.empty());
        return model;
    }

    /**
     * A model from a job's model directory: the network and parameters as trained (experts on the
     * driver, or distributed when {@link #distributed} was asked for), params set from the network
     * spec, a fresh uid.
     */
    private M fromJobModel(org.apache.hadoop.fs.Path dir) throws java.io.IOException {
        org.apache.hadoop.conf.Configuration conf = sparkSession().sparkContext().hadoopConfiguration();
        ModelDirectory.Spec spec = ModelDirectory.readSpec(dir, conf);
        NetworkSpec n = spec.network();
        NetworkSpec.Task expected = switch (type.getSimpleName()) {
            case "MoEClassificationModel" -> NetworkSpec.Task.CLASSIFICATION;
            case "MoERegressionModel" -> NetworkSpec.Task.REGRESSION;
            default -> NetworkSpec.Task.LANGUAGE_MODEL;
        };
        if (n.task() != expected) {
            throw new IllegalArgumentException("the model at " + dir + " is a " + n.task() + " model; load it with the model class of that task, not "
                    + type.getSimpleName());
        }
        org.sparkmoe.core.network.ModelParameters params = ModelDirectory.readState(dir, spec, conf).params();
        String prefix = Character.toLowerCase(type.getSimpleName().charAt(0)) + type.getSimpleName().substring(1);
        M model = create.create(dir.toString(), org.apache.spark.ml.util.Identifiable$.MODULE$.randomUID(prefix), n, params.shared(),
                ExpertTable.local(params.experts()));
        MoEParams<?> p = (MoEParams<?>) model;
        switch (n.gating()) {
            case SOFTMAX -> p.setGating("softmax").setNumExperts(n.experts());
            case NOISY_TOP_K -> p.setGating("noisyTopK").setNumExperts(n.experts()).setK(n.k());
            case HIERARCHICAL -> p.setGating("hierarchical").setNumGroups(n.groups()).setExpertsPerGroup(n.expertsPerGroup())
                    .setKPrimary(n.kPrimary()).setKSecondary(n.kSecondary());
        }
        p.setExpertShards(Math.min(p.getExpertShards(), n.numExperts()));
        p.setModelDim(n.modelDim()).setExpertHiddenSize(n.expertHidden()).setWImportance(n.wImportance()).setWLoad(n.wLoad());
        if (model instanceof MoELanguageModelParams<?> lm) {
            lm.setContext(n.context()).setEmbeddingDim(n.embeddingDim()).setVocabularySize(n.vocabulary());
        }
        if (Boolean.TRUE.equals(distributed) && model instanceof MoEModelBase<?> f) {
            @SuppressWarnings("unchecked")
            M d = (M) f.toDistributed(shards);
            return d;
        }
        return model;
    }
}
