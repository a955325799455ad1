package org.sparkmoe.ml;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.SparkContext;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.Instrumentation;
import org.apache.spark.ml.util.Instrumentation$;
import org.sparkmoe.app.TrainingHistory;
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

    /** The trained network: shared tensors on the driver, experts local or distributed; what each step did. */
    record Trained(NetworkSpec spec, Parameters shared, ExpertTable experts, List<StepReport> reports, TrainingHistory history) {
        FittedNetwork network() {
            return new FittedNetwork(spec, shared, experts, spec.task());
        }
    }

    /**
     * Runs {@code body} as one MLlib-instrumented fit of {@code stage} on {@code dataset} (logs the
     * stage, the dataset and the params through {@link Instrumentation}) inside the caller's job
     * group: the caller's group id is kept (so cancelling it cancels our jobs), the description
     * becomes the caller's with ours nested after it, our jobs also carry the tag
     * {@code sparkmoe-fit-<uid>}; the caller's group, description and interrupt flag are restored
     * afterwards, whatever happens.
     */
    static <T> T instrumented(Params stage, Dataset<?> dataset, java.util.function.BiFunction<Instrumentation, FitContext, T> body) {
        SparkContext sc = dataset.sparkSession().sparkContext();
        String group = sc.getLocalProperty(JOB_GROUP);
        String description = sc.getLocalProperty(JOB_DESCRIPTION);
        String interrupt = sc.getLocalProperty(JOB_INTERRUPT);
        String tag = "sparkmoe-fit-" + stage.uid();
        String ours = (description == null || description.isEmpty() ? "" : description + " > ") + stage.getClass().getSimpleName()
                + " " + stage.uid() + " fit";
        FitContext ctx = new FitContext(sc, group == null ? tag : group, ours);
        scala.Function1<Instrumentation, T> f = instr -> {
            instr.logPipelineStage((org.apache.spark.ml.PipelineStage) stage);
            instr.logDataset(dataset);
            instr.logParams(stage, scala.jdk.javaapi.CollectionConverters.asScala(java.util.Arrays.asList(stage.params())).toSeq());
            return body.apply(instr, ctx);
        };
        sc.setJobGroup(ctx.group, ours, interrupt != null && Boolean.parseBoolean(interrupt));
        sc.addJobTag(tag);
        sc.addSparkListener(ctx);
        try {
            return Instrumentation$.MODULE$.instrumented(f);
        } finally {
            sc.removeSparkListener(ctx);
            sc.removeJobTag(tag);
            sc.setLocalProperty(JOB_GROUP, group);
            sc.setLocalProperty(JOB_DESCRIPTION, description);
            sc.setLocalProperty(JOB_INTERRUPT, interrupt);
        }
    }

    static final String JOB_GROUP = "spark.jobGroup.id";
    static final String JOB_DESCRIPTION = "spark.job.description";
    static final String JOB_INTERRUPT = "spark.job.interruptOnCancel";

    /**
     * The job group a fit runs in, and whether it was cancelled: a Spark listener that notes the
     * cancellation of any job of the group (Zeppelin's cancel button calls {@code cancelJobGroup}),
     * and a training-loop listener that labels each step's jobs and stops the run before the next
     * step once the group was cancelled.
     */
    static final class FitContext extends org.apache.spark.scheduler.SparkListener implements TrainingLoop.Listener {
        private final SparkContext sc;
        final String group;
        private final String description;
        private final java.util.Set<Integer> jobs = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private volatile String cancelled;
        private volatile long lastStep = -1;
        private volatile long lastCheckpoint = -1;

        FitContext(SparkContext sc, String group, String description) {
            this.sc = sc;
            this.group = group;
            this.description = description;
        }

        @Override
        public void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart start) {
            java.util.Properties p = start.properties();
            if (p != null && group.equals(p.getProperty(JOB_GROUP))) jobs.add(start.jobId());
        }

        @Override
        public void onJobEnd(org.apache.spark.scheduler.SparkListenerJobEnd end) {
            if (!jobs.remove(end.jobId())) return;
            if (end.jobResult() instanceof org.apache.spark.scheduler.JobFailed f && f.exception() != null
                    && String.valueOf(f.exception().getMessage()).contains("cancelled")) {
                cancelled = f.exception().getMessage();
            }
        }

        @Override
        public void started(long firstStep, long targetStep) {
            lastStep = firstStep;
            lastCheckpoint = firstStep > 0 ? firstStep : -1;
            label(firstStep + 1, targetStep);
        }

        @Override
        public void stepped(StepReport r) {
            lastStep = r.step();
            if (cancelled != null) throw cancellation(null);
            if (r.step() < target) label(r.step() + 1, -1);
        }

        @Override
        public void checkpointed(long step) {
            lastCheckpoint = step;
        }

        private long target = -1;

        private void label(long step, long targetStep) {
            if (targetStep >= 0) target = targetStep;
            sc.setJobDescription(description + " step " + step + "/" + target);
        }

        /** Whether a job of the group was cancelled (the failure that stopped the fit, if any, is that cancellation). */
        boolean wasCancelled(Throwable failure) {
            if (cancelled != null) return true;
            for (Throwable t = failure; t != null; t = t.getCause()) {
                if (t instanceof org.apache.spark.SparkException && String.valueOf(t.getMessage()).contains("cancelled")) return true;
            }
            return false;
        }

        /** The exception a cancelled fit ends with: where it stopped and what resumes it. */
        java.util.concurrent.CancellationException cancellation(Throwable cause) {
            String resume = lastCheckpoint >= 0 ? "; fitting again with the same checkpointDir resumes from the checkpoint of step " + lastCheckpoint
                    : "; no checkpoint was written (set checkpointDir to make a cancelled fit resumable)";
            java.util.concurrent.CancellationException e = new java.util.concurrent.CancellationException(
                    "fit cancelled (job group '" + group + "') after step " + lastStep + resume);
            if (cause != null) e.initCause(cause);
            return e;
        }
    }

    /**
     * Trains on the Spark engine: resumes from the latest checkpoint of checkpointDir when there is one,
     * else starts from the warm-start model (its parameters, fresh optimiser state; distributed experts
     * stay on the executors with sharded placement) or a fresh initialisation; checkpoints every
     * checkpointInterval steps and at the end (with checkpointDir). With sharded placement the
     * trained experts stay where they are, as a distributed {@link ExpertTable}; with driver
     * placement they are a local one.
     */
    static Trained train(Dataset<?> ds, MoEParams<?> p, NetworkSpec spec, JavaRDD<RowBlock> data, WarmStart warm, FitContext fit) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(ds.sparkSession().sparkContext());
        MoENetwork net = spec.build();
        EngineConfig config = ParamsConfig.engineConfig(p);
        data = data.persist(StorageLevel.MEMORY_AND_DISK());
        String dir = p.getCheckpointDir();
        SparkMoETrainer trainer = null;
        try {
            if (p instanceof MoESupervisedParams<?> s && !s.getWeightCol().isEmpty()) FeatureBlocks.requirePositiveWeight(data, s.getWeightCol());
            TrainingLoop.WarmStart start = null;
            if (warm.shared() != null) {
                checkWarmStart(net, warm);
                start = warm.experts().isDistributed()
                        ? TrainingLoop.WarmStart.distributed(warm.shared(), warm.experts().pairs(sc, config.expertShards()))
                        : TrainingLoop.WarmStart.of(warmStart(config, new ModelParameters(warm.shared(), warm.experts().toArray())));
            }
            TrainingLoop.Options options = new TrainingLoop.Options(p.getMaxSteps(), dir.isEmpty() ? null : dir,
                    p.getCheckpointInterval(), KEEP_CHECKPOINTS, null, Map.of("estimator", p.uid()));
            TrainingHistory history = new TrainingHistory();
            TrainingLoop.Result run;
            try {
                run = TrainingLoop.run(sc, net, config, data, options, start, List.of(history, fit));
            } catch (Exception e) { // SparkException (checked, undeclared by Scala) included; rethrown as it is unless cancelled
                if (e instanceof java.util.concurrent.CancellationException || !fit.wasCancelled(e)) throw e;
                throw fit.cancellation(e);
            }
            trainer = run.trainer();
            if (config.placement() == ExpertPlacement.SHARDED) {
                // materialised and lineage-truncated before close() drops the training state it derives from
                ExpertTable experts = ExpertTable.distributed(trainer.expertParameters(), trainer.expertPartitioner());
                return new Trained(spec, trainer.sharedParameters().copy(), experts, run.reports(), history);
            }
            ModelParameters params = trainer.snapshot().params();
            return new Trained(spec, params.shared(), ExpertTable.local(params.experts()), run.reports(), history);
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
