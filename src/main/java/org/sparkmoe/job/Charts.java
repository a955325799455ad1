package org.sparkmoe.job;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;

import javax.imageio.ImageIO;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.DefaultTableXYDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.sparkmoe.engine.metrics.StepMetrics;

/** PNG charts of a training run, drawn with JFreeChart (headless). */
final class Charts {
    static final String LOSS = "loss.png";
    static final String EXPERT_LOAD = "expert-load.png";

    private Charts() {
    }

    /** Training task loss per step, with the best reachable loss as a flat line when known. */
    static void loss(List<StepMetrics> metrics, double floor, Path file, Configuration conf) throws IOException {
        XYSeriesCollection ds = new XYSeriesCollection();
        XYSeries s = new XYSeries("training task loss");
        for (StepMetrics m : metrics) if (Double.isFinite(m.taskLoss())) s.add(m.step(), m.taskLoss());
        ds.addSeries(s);
        if (Double.isFinite(floor) && !metrics.isEmpty()) {
            XYSeries f = new XYSeries("floor (entropy rate)");
            f.add(metrics.get(0).step(), floor);
            f.add(metrics.get(metrics.size() - 1).step(), floor);
            ds.addSeries(f);
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Training loss", "step", "loss (nats per example)", ds,
                PlotOrientation.VERTICAL, true, false, false);
        write(chart, file, conf);
    }

    /** Share of the batch's rows routed to each expert per step, stacked (one band per expert). */
    static void expertLoad(List<long[]> stepAndCounts, int experts, Path file, Configuration conf) throws IOException {
        DefaultTableXYDataset ds = new DefaultTableXYDataset();
        XYSeries[] series = new XYSeries[experts];
        for (int e = 0; e < experts; e++) {
            series[e] = new XYSeries("expert " + e, true, false);
        }
        for (long[] row : stepAndCounts) {
            double total = 0;
            for (int e = 0; e < experts; e++) total += row[1 + e];
            for (int e = 0; e < experts; e++) series[e].add(row[0], total > 0 ? row[1 + e] / total : 0);
        }
        for (XYSeries s : series) ds.addSeries(s);
        JFreeChart chart = ChartFactory.createStackedXYAreaChart("Expert load per step", "step", "share of routed rows", ds,
                PlotOrientation.VERTICAL, experts <= 16, false, false);
        chart.getXYPlot().getRangeAxis().setRange(0, 1);
        write(chart, file, conf);
    }

    private static void write(JFreeChart chart, Path file, Configuration conf) throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = chart.createBufferedImage(900, 500);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ImageIO.write(img, "png", bytes);
        try (OutputStream out = file.getFileSystem(conf).create(file, true)) {
            out.write(bytes.toByteArray());
        }
    }
}
