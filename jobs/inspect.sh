#!/usr/bin/env bash
# spark-moe inspect: jobs/inspect.sh job.model=DIR   (prints the model's spec, sizes and balance statistics)
exec "$(dirname "$0")/moe-submit.sh" inspect "$@"
