#!/usr/bin/env bash
# spark-moe score: jobs/score.sh [--master URL ...spark options] [key=value | --config FILE ...]
# See jobs/moe-submit.sh for the options and conf/moe-job.properties for the keys.
exec "$(dirname "$0")/moe-submit.sh" score "$@"
