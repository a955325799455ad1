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
    private final MoEPersistence.RecurrentFactory<M> createRecurrent;
    private Boolean distributed;
    private int shards;

    MoEModelReader(Class<M> type, MoEPersistence.ModelFactory<M> create) {
        this(type, create, null);
    }

    /** @param createRecurrent builds a recurrent language model (null: the class has none) */
    MoEModelReader(Class<M> type, MoEPersistence.ModelFactory<M> create, MoEPersistence.RecurrentFactory<M> createRecurrent) {
        this.type = type;
        this.create = create;
        this.createRecurrent = createRecurrent;
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

    /**
     * Reads the model at {@code path}: a save of the ML API or a job's model directory (or a train
     * output.dir holding one), in any layout {@link ModelDirectory} reads. A save of the ML API keeps
     * its uid and params; a job's model gets a fresh uid and params set from its network spec. A
     * recurrent language model ({@link MoELanguageModel} only) always has its experts on the driver.
     */
    @Override
    public M load(String path) {
        try {
            ModelDirectory.Saved saved = ModelDirectory.find(path, sparkSession())
                    .orElseThrow(() -> new IllegalArgumentException("no spark-moe model at " + path + " (no " + ModelDirectory.SPEC
                            + ", model/" + ModelDirectory.SPEC + " or spec/ and parameters/)"));
            org.apache.hadoop.conf.Configuration conf = sparkSession().sparkContext().hadoopConfiguration();
            String dir = saved.dir().toString();
            DefaultParamsReader.Metadata md = saved.hasParamsMetadata(conf) ? MoEPersistence.loadMetadata(dir, sparkSession(), type.getName()) : null;
            NetworkSpec n = saved.spec().network();
            NetworkSpec.Task expected = switch (type.getSimpleName()) {
                case "MoEClassificationModel" -> NetworkSpec.Task.CLASSIFICATION;
                case "MoERegressionModel" -> NetworkSpec.Task.REGRESSION;
                default -> NetworkSpec.Task.LANGUAGE_MODEL;
            };
            if (n.task() != expected) {
                throw new IllegalArgumentException("the model at " + dir + " is a " + n.task() + " model; load it with the model class of that task, not "
                        + type.getSimpleName());
            }
            String prefix = Character.toLowerCase(type.getSimpleName().charAt(0)) + type.getSimpleName().substring(1);
            String uid = md != null ? md.uid() : org.apache.spark.ml.util.Identifiable$.MODULE$.randomUID(prefix);
            if (saved.spec().isRecurrent()) {
                if (createRecurrent == null) {
                    throw new IllegalArgumentException("the model at " + dir + " is a recurrent language model (" + saved.spec().recurrent().kind()
                            + "); load it with MoELanguageModel, not " + type.getSimpleName());
                }
                M model = createRecurrent.create(dir, uid, saved.spec(), saved.readParameters(sparkSession()));
                if (md != null) md.getAndSetParams(model, scala.Option.empty());
                else setFromSpec((MoEParams<?>) model, n);
                return model;
            }
            int shards = distributed != null ? (distributed ? this.shards : 0) : md == null ? 0 : MoEPersistence.savedShards(md);
            MoEPersistence.Loaded l = MoEPersistence.loadModel(saved, sparkSession(), shards);
            M model = create.create(dir, uid, n, l.shared(), l.experts());
            if (md != null) md.getAndSetParams(model, scala.Option.empty());
            else setFromSpec((MoEParams<?>) model, n);
            return model;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("reading the model at " + path + ": " + e.getMessage(), e);
        }
    }

    /** The params a job's model (which has no params metadata) gets: the network's, and the defaults. */
    private static void setFromSpec(MoEParams<?> p, NetworkSpec n) {
        switch (n.gating()) {
            case SOFTMAX -> p.setGating("softmax").setNumExperts(n.experts());
            case NOISY_TOP_K -> p.setGating("noisyTopK").setNumExperts(n.experts()).setK(n.k());
            case HIERARCHICAL -> p.setGating("hierarchical").setNumGroups(n.groups()).setExpertsPerGroup(n.expertsPerGroup())
                    .setKPrimary(n.kPrimary()).setKSecondary(n.kSecondary());
        }
        p.setExpertShards(Math.min(p.getExpertShards(), n.numExperts()));
        p.setModelDim(n.modelDim()).setExpertHiddenSize(n.expertHidden()).setWImportance(n.wImportance()).setWLoad(n.wLoad());
        if (p instanceof MoELanguageModelParams<?> lm) {
            lm.setContext(n.context()).setEmbeddingDim(n.embeddingDim()).setVocabularySize(n.vocabulary());
        }
    }
}
