#!/usr/bin/env bash
# Scheduled retraining, for cron or Airflow:
#
#   jobs/retrain.sh retrain.root=hdfs:///models/lm retrain.date=2026-11-28 input.path=hdfs:///data/2026-11-28/*.txt \
#       bar.maxPerplexity=120 [--master yarn ...] [--config conf/my-job.properties]
#
# Warm-starts from the model that <root>/LATEST names (cold start when there is none), trains
# optim.maxSteps more steps on the run's data, evaluates on the held-out data (heldout.path, or the
# deterministic heldout.fraction split) and publishes <root>/v-<date> only if the bar.* settings pass;
# then LATEST is replaced atomically (temporary file + rename). Rerunning a published date does nothing.
# Dates only move forward: a date older than LATEST's is refused unless retrain.force=true. To go
# back to a published version use jobs/rollback.sh. The run holds <root>/_LOCK (README "Retraining").
#
# Exit codes: 0 published (or already published), 3 rejected by the evaluation bar (nothing
# published), 1 failed (nothing published), 2 bad configuration or input, 4 <root> locked by
# another run.
exec "$(dirname "$0")/moe-submit.sh" retrain "$@"
