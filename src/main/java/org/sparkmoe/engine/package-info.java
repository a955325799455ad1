/**
 * The Spark engine: data-parallel training of an MoE network (docs/DESIGN.md section 7).
 * {@link org.sparkmoe.engine.SparkMoETrainer} runs one step as two Spark jobs over an RDD of
 * {@link org.sparkmoe.core.network.RowBlock}s (its javadoc lists them; the data flow of the step's
 * DAG is drawn in {@link org.sparkmoe.engine.ShufflePipeline} and
 * {@link org.sparkmoe.engine.LocalPipeline}, one per routing; where the experts live is an
 * {@link org.sparkmoe.engine.ExpertStore} per placement: {@link org.sparkmoe.engine.DriverExperts},
 * {@link org.sparkmoe.engine.ShardedExperts}): {@link org.sparkmoe.engine.PartitionStep} (a data
 * partition's rows: input layer, gate, combine, backward), {@link org.sparkmoe.engine.ShardStep} (an
 * expert shard running each expert once on its rows from all partitions),
 * {@link org.sparkmoe.engine.ShuffleBlock} (what crosses the shuffle; {@code Shuffles} builds every shuffle as a
 * {@link org.sparkmoe.engine.SingleWriteShuffle}, whose map tasks write each byte once; {@code ShuffleRelease}
 * deletes a trainer's shuffles as soon as the expert state's kept lineage cannot reach them),
 * {@link org.sparkmoe.engine.ExpertPartitioner} and {@link org.sparkmoe.engine.ExpertShard} (where
 * experts live), {@link org.sparkmoe.engine.ExpertPool} (each executor's cache of the expert state,
 * gradient and activation buffers reused across steps, and of the data partitions' per-stage arrays,
 * {@code PartitionBuffers}; {@code PinnedRDD} keeps a shard's forward,
 * backward and update on the executor that caches its state), {@link org.sparkmoe.engine.BatchPlan} (which
 * rows form each step's mini-batch; {@code DataTap} lets the step's tasks read the cached rows without
 * deserialising the data's lineage each time; {@code DataGroups} hands a local-routing step's task, one per
 * core, its group of data partitions, whose records it sums up the {@code ReductionTree}, and
 * {@code CachedGroups} the same groups for the step in one barrier stage; {@code NamedRDDs}
 * builds that step's RDDs without the closure cleaner, {@code StepBroadcast} hands the driver-held
 * parameters to local mode's tasks without serialising them, and {@code LocalResults} the tasks' results back).
 * {@link org.sparkmoe.engine.ExpertExchange} offers the expert half of a shuffle-routed step to step
 * drivers outside this package (the recurrent LM's, {@code engine.sequence}).
 * {@link org.sparkmoe.engine.EngineConfig} holds the settings ({@code BlasThreadsAdvice} warns when
 * native BLAS would run several threads inside each task); the driver loop around the steps
 * (resume, checkpoints, metrics) is the application layer's {@code TrainingLoop}.
 *
 * <p>Layer: engine, above core. May depend on {@code org.sparkmoe.core.*}, its own subpackages,
 * Spark and Hadoop; never on {@code data}, {@code job}, {@code ml} or the application layer.
 */
package org.sparkmoe.engine;
