package org.sparkmoe.job;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Publish;

/**
 * A retrain root: published versions {@code v-<date>/} (model directories), the {@code LATEST}
 * pointer (one line, the current version's name) and {@code WITHDRAWN} (the versions a rollback
 * took back, one per line). The pointer files are read without their checksum files, so one edited
 * by hand still reads; what LATEST names must be a published version, else the error says LATEST
 * is the problem.
 */
final class PublishRoot {
    static final String WITHDRAWN = "WITHDRAWN";
    private final Path root;
    private final Configuration conf;
    private final FileSystem fs;

    PublishRoot(Path root, Configuration conf) throws IOException {
        this.root = root;
        this.conf = conf;
        this.fs = root.getFileSystem(conf);
    }

    /** The version LATEST names, "" when there is no LATEST; bad input (exit 2) when it names no published version. */
    String latest() throws IOException {
        String v = latestRaw();
        if (v.isEmpty()) return v;
        if (!v.matches("[A-Za-z0-9._-]+") || v.startsWith(".") || !isPublished(v)) {
            String shown = v.length() > 80 ? v.substring(0, 80) + "..." : v;
            throw new JobData.InputException(new Path(root, MoEJob.LATEST) + " names '" + shown + "', which is not a published version"
                    + " under " + root + " (no " + root + "/" + shown + "/" + ModelDirectory.SPEC + "). LATEST is the problem: point it"
                    + " at one of the published versions " + published() + " with the rollback command (jobs/rollback.sh retrain.root="
                    + root + " rollback.to=VERSION)");
        }
        return v;
    }

    /** LATEST's text, trimmed, unchecked ("" when absent). */
    String latestRaw() throws IOException {
        Path latest = new Path(root, MoEJob.LATEST);
        return fs.exists(latest) ? Publish.readRaw(latest, conf).trim() : "";
    }

    boolean isPublished(String version) throws IOException {
        return fs.exists(new Path(new Path(root, version), ModelDirectory.SPEC));
    }

    /** The published versions, in order. */
    List<String> published() throws IOException {
        TreeSet<String> v = new TreeSet<>();
        if (fs.exists(root)) {
            for (FileStatus st : fs.listStatus(root)) {
                String n = st.getPath().getName();
                if (st.isDirectory() && n.startsWith("v-") && isPublished(n)) v.add(n);
            }
        }
        return new ArrayList<>(v);
    }

    /** The newest published version older than {@code version} and not withdrawn, or "". */
    String newestBefore(String version, Set<String> withdrawn) throws IOException {
        String best = "";
        for (String v : published()) if (v.compareTo(version) < 0 && !withdrawn.contains(v)) best = v;
        return best;
    }

    Set<String> withdrawn() throws IOException {
        Path w = new Path(root, WITHDRAWN);
        Set<String> out = new LinkedHashSet<>();
        if (!fs.exists(w)) return out;
        for (String line : Publish.readRaw(w, conf).split("\n")) if (!line.isBlank()) out.add(line.trim());
        return out;
    }

    void writeWithdrawn(Set<String> versions) throws IOException {
        Path w = new Path(root, WITHDRAWN);
        if (versions.isEmpty()) {
            fs.delete(w, false);
            return;
        }
        Publish.replaceFile(w, String.join("\n", new TreeSet<>(versions)) + "\n", conf);
    }
}
