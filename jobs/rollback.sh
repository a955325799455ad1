#!/usr/bin/env bash
# Roll a retrain root back (or forward) to a published version:
#
#   jobs/rollback.sh retrain.root=hdfs:///models/lm rollback.to=v-2026-11-26
#
# Reads that model in full, then replaces <root>/LATEST atomically under the root's lock. Versions
# newer than it are listed in <root>/WITHDRAWN: rerunning their dates leaves LATEST alone, and
# retraining them needs retrain.force=true. Use this instead of editing LATEST by hand.
#
# Exit codes: 0 done, 2 no such published version or a corrupt one, 4 a retrain holds the root's lock.
exec "$(dirname "$0")/moe-submit.sh" rollback "$@"
