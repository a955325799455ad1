package org.sparkmoe.job;

import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Set;

import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.sparkmoe.app.ModelDirectory;
import org.sparkmoe.app.Publish;
import org.sparkmoe.app.RunLock;

/**
 * {@code rollback}: points retrain.root/LATEST at the published version rollback.to, under the
 * root's lock, after reading that model in full (a corrupt one is refused). The versions newer than
 * it are withdrawn (listed in {@code WITHDRAWN}): a rerun of their dates does not move LATEST back
 * to them, and retraining them needs retrain.force=true. Works when LATEST is missing or broken.
 */
class RollbackCommand extends Command {
    RollbackCommand(JavaSparkContext sc, PrintStream out) {
        super(sc, out);
    }

    @Override
    int run(JobConfig cfg) throws IOException {
        Path root = new Path(cfg.required("retrain.root", "for rollback (the publish root)"));
        String to = cfg.required("rollback.to", "for rollback (the published version LATEST should name)");
        if (!to.startsWith("v-")) to = "v-" + to;
        try (RunLock lock = lock(root, "retrain.root", "rollback")) {
            PublishRoot pub = new PublishRoot(root, hadoop);
            List<String> published = pub.published();
            if (!published.contains(to)) {
                throw new JobConfig.ConfigException("config key 'rollback.to': " + to + " is not a published version under " + root
                        + " (published: " + published + ")");
            }
            Path dir = new Path(root, to);
            ModelDirectory.readState(dir, ModelDirectory.readSpec(dir, hadoop), hadoop); // the whole model must read
            String current = pub.latestRaw();
            Set<String> withdrawn = pub.withdrawn();
            withdrawn.remove(to);
            for (String v : published) if (v.compareTo(to) > 0) withdrawn.add(v);
            pub.writeWithdrawn(withdrawn);
            Publish.replaceFile(new Path(root, MoEJob.LATEST), to + "\n", hadoop);
            out.println("LATEST -> " + to + " (was '" + current + "')" + (withdrawn.isEmpty() ? ""
                    : "; withdrawn: " + withdrawn + " (retraining their dates needs retrain.force=true)"));
            return MoEJob.OK;
        }
    }
}
