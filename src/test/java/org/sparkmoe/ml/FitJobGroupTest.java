package org.sparkmoe.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;
import org.apache.spark.SparkContext;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Instrumentation;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;

/** fit inside the caller's job group (Zeppelin runs each paragraph in one), its cancellation, and MLlib's instrumentation log. */
class FitJobGroupTest {
    static Dataset<Row> train;

    @BeforeAll
    static void data() {
        train = MlTestData.frame(800, 21, true, 2).cache();
    }

    static SparkContext sc() {
        return MlTestData.spark().sparkContext();
    }

    static MoEClassifier classifier(int steps) {
        return new MoEClassifier().setNumExperts(4).setK(2).setModelDim(8).setExpertHiddenSize(8).setBatchSize(64)
                .setMaxSteps(steps).setStepSize(0.02).setSeed(3);
    }

    @Test
    void fitRunsInTheCallersJobGroupWithItsDescriptionAndRestoresBoth() throws Exception {
        List<String[]> jobs = Collections.synchronizedList(new ArrayList<>());
        SparkListener l = new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart e) {
                jobs.add(new String[] {e.properties().getProperty(Fitting.JOB_GROUP), e.properties().getProperty(Fitting.JOB_DESCRIPTION)});
            }
        };
        sc().addSparkListener(l);
        try {
            sc().setJobGroup("paragraph-1", "my paragraph", false);
            classifier(3).fit(train);
            assertEquals("paragraph-1", sc().getLocalProperty(Fitting.JOB_GROUP));
            assertEquals("my paragraph", sc().getLocalProperty(Fitting.JOB_DESCRIPTION));
            sc().listenerBus().waitUntilEmpty();
        } finally {
            sc().removeSparkListener(l);
            sc().clearJobGroup();
        }
        assertTrue(jobs.size() >= 6, "jobs seen: " + jobs.size());
        for (String[] j : jobs) {
            assertEquals("paragraph-1", j[0]);
            assertTrue(j[1].startsWith("my paragraph > MoEClassifier "), j[1]);
        }
        // the engine nests its step label inside ours
        assertTrue(jobs.stream().anyMatch(j -> j[1].contains(" fit step 3/3 > spark-moe step 3")), "a job labelled with its step");

        // without a caller's group: ours, and none afterwards
        classifier(1).fit(train);
        assertNull(sc().getLocalProperty(Fitting.JOB_GROUP));
        assertNull(sc().getLocalProperty(Fitting.JOB_DESCRIPTION));
    }

    @Test
    void cancellingTheCallersJobGroupStopsTheFitAndTheLastCheckpointResumes(@TempDir Path tmp) throws Exception {
        String dir = tmp.resolve("ckpt").toString();
        MoEClassifier est = classifier(1_000_000).setCheckpointDir(dir).setCheckpointInterval(2);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread paragraph = new Thread(() -> {
            sc().setJobGroup("paragraph-2", "a long fit", false);
            try {
                est.fit(train);
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        paragraph.start();
        CheckpointStore store = new CheckpointStore(dir, sc().hadoopConfiguration(), Fitting.KEEP_CHECKPOINTS);
        while (store.latest().map(CheckpointMeta::step).orElse(0L) < 4) {
            assertTrue(paragraph.isAlive(), "fit ended before it was cancelled: " + failure.get());
            Thread.sleep(100);
        }
        // Zeppelin's cancel button, pressed while a job of the paragraph runs (Spark cancels only the jobs
        // active at that moment: a cancel between a step's jobs, during driver-side work, cancels nothing)
        java.util.Set<String> groups = java.util.concurrent.ConcurrentHashMap.newKeySet();
        java.util.concurrent.atomic.AtomicBoolean pressed = new java.util.concurrent.atomic.AtomicBoolean();
        SparkListener cancelButton = new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart e) {
                String g = e.properties().getProperty(Fitting.JOB_GROUP);
                groups.add(String.valueOf(g));
                if ("paragraph-2".equals(g) && pressed.compareAndSet(false, true)) sc().cancelJobGroup("paragraph-2");
            }
        };
        sc().addSparkListener(cancelButton);
        try {
            paragraph.join(180_000);
        } finally {
            sc().removeSparkListener(cancelButton);
        }
        assertFalse(paragraph.isAlive(), "fit still running; job groups seen: " + groups);
        assertInstanceOf(CancellationException.class, failure.get(), String.valueOf(failure.get()));
        assertTrue(failure.get().getMessage().contains("paragraph-2") && failure.get().getMessage().contains("resumes"), failure.get().getMessage());
        long at = store.latest().orElseThrow().step();
        assertTrue(at >= 4 && at < 1_000_000, "checkpoint at " + at);

        MoEClassificationModel resumed = est.copy(ParamMap.empty()).setMaxSteps((int) at + 2).fit(train);
        assertEquals(at, resumed.summary().firstStep());
        assertEquals(2, resumed.summary().totalIterations());
    }

    @Test
    void fitLogsThroughMllibInstrumentation() {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        Configuration cfg = ctx.getConfiguration();
        List<String> lines = Collections.synchronizedList(new ArrayList<>());
        AbstractAppender capture = new AbstractAppender("capture-instrumentation", null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent e) {
                lines.add(e.getMessage().getFormattedMessage());
            }
        };
        capture.start();
        String name = Instrumentation.class.getName();
        LoggerConfig lc = new LoggerConfig(name, Level.INFO, false);
        lc.addAppender(capture, Level.INFO, null);
        cfg.addLogger(name, lc);
        ctx.updateLoggers();
        try {
            classifier(2).setNumExperts(5).fit(train);
        } finally {
            cfg.removeLogger(name);
            ctx.updateLoggers();
            capture.stop();
        }
        String all = String.join("\n", lines);
        assertTrue(all.contains("\"numFeatures\":4"), all);
        assertTrue(all.contains("\"numClasses\":3"), all);
        assertTrue(all.contains("\"numExperts\":5"), all);
        assertTrue(all.contains("MoEClassifier"), all);
    }
}
