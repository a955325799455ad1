package org.sparkmoe.ml;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.app.TrainingLoop;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.NetworkSpec;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.engine.SparkMoETrainer;
import org.sparkmoe.engine.StepReport;

/** Fitting on the Spark engine through the application layer's {@link TrainingLoop}: resume, warm start, checkpoints; the trained network. */
final class Fitting {
    private Fitting() {
    }

    /** Checkpoints kept in checkpointDir. */
    static final int KEEP_CHECKPOINTS = 2;

    /** Warm-start parameters (experts on the driver or distributed; none when {@code shared} is null) and where they came from. */
    record WarmStart(Parameters shared, ExpertTable experts, String where) {
        static final WarmStart NONE = new WarmStart(null, null, null);

        static WarmStart of(MoEPersistence.Weights model, String where) {
            return new WarmStart(model.sharedParameters(), model.experts(), where);
        }
    }

    /** The trained network: shared tensors on the driver, experts local or distributed. */
    record Trained(NetworkSpec spec, Parameters shared, ExpertTable experts, List<StepReport> reports) {
    }

    /**
     * Trains on the Spark engine: resumes from the latest checkpoint of checkpointDir when there is one,
     * else starts from the warm-start model (its parameters, fresh optimiser state; distributed experts
     * stay on the executors with sharded placement) or a fresh initialisation; checkpoints every
     * checkpointInterval steps and at the end (with checkpointDir). With sharded placement the
     * trained experts stay where they are, as a distributed {@link ExpertTable}; with driver
     * placement they are a local one.
     */
    static Trained train(Dataset<?> ds, MoEParams<?> p, NetworkSpec spec, JavaRDD<RowBlock> data, WarmStart warm) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        MoENetwork net = spec.build();
        EngineConfig config = ParamsConfig.engineConfig(p);
        data = data.persist(StorageLevel.MEMORY_AND_DISK());
        String dir = p.getCheckpointDir();
        SparkMoETrainer trainer = null;
        try {
            TrainingLoop.WarmStart start = null;
            if (warm.shared() != null) {
                checkWarmStart(net, warm);
                start = warm.experts().isDistributed()
                        ? TrainingLoop.WarmStart.distributed(warm.shared(), warm.experts().pairs(sc, config.expertShards()))
                        : TrainingLoop.WarmStart.of(warmStart(config, new ModelParameters(warm.shared(), warm.experts().toArray())));
            }
            TrainingLoop.Options options = new TrainingLoop.Options(p.getMaxSteps(), dir.isEmpty() ? null : dir,
                    p.getCheckpointInterval(), KEEP_CHECKPOINTS, null, Map.of("estimator", p.uid()));
            TrainingLoop.Result run = TrainingLoop.run(sc, net, config, data, options, start, List.of());
            trainer = run.trainer();
            if (config.placement() == ExpertPlacement.SHARDED) {
                // materialised and lineage-truncated before close() drops the training state it derives from
                ExpertTable experts = ExpertTable.distributed(trainer.expertParameters(), trainer.expertPartitioner());
                return new Trained(spec, trainer.sharedParameters().copy(), experts, run.reports());
            }
            ModelParameters params = trainer.snapshot().params();
            return new Trained(spec, params.shared(), ExpertTable.local(params.experts()), run.reports());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("training checkpoints in " + dir + ": " + e.getMessage(), e);
        } finally {
            if (trainer != null) trainer.close();
            data.unpersist(false);
        }
    }

    private static void checkWarmStart(MoENetwork net, WarmStart warm) {
        ExpertTable experts = warm.experts();
        ParameterLayout expertLayout = experts instanceof ExpertTable.Distributed d ? d.rdd().first()._2().layout() : experts.toArray()[0].layout();
        if (!warm.shared().layout().equals(net.sharedLayout()) || experts.numExperts() != net.numExperts()
                || !expertLayout.equals(net.moe().expert().layout())) {
            throw new IllegalArgumentException("param initialModelPath: the model at " + warm.where() + " (" + experts.numExperts()
                    + " experts, shared " + warm.shared().layout() + ", expert " + expertLayout + ") does not have the shape these params and data give ("
                    + net.numExperts() + " experts, shared " + net.sharedLayout() + ", expert " + net.moe().expert().layout() + ")");
        }
    }

    private static TrainingState warmStart(EngineConfig config, ModelParameters initial) {
        Precision prec = config.trainer().precision();
        ModelParameters start = initial.to(prec);
        OptimiserState[] states = new OptimiserState[start.experts().length];
        for (int e = 0; e < states.length; e++) states[e] = config.trainer().optimiser().newState(start.experts()[e]);
        return new TrainingState(start, config.trainer().optimiser().newState(start.shared()), states, 0);
    }
}
