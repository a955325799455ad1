#!/usr/bin/env bash
# Builds the application jar, then trains an MoE language model on the built-in synthetic corpus
# (a mixture of Markov sources with a known entropy rate) on local[*] through the real Spark job
# (jobs/train.sh), and prints the summary: held-out perplexity against the best reachable, the
# balance columns (CV(Importance), CV(Load), max/mean load), expert specialisation, throughput.
#
#   jobs/quickstart.sh [key=value ...]      e.g. optim.maxSteps=300 model.numExperts=16
#
# Output in target/quickstart (replaced on every run): model/ (spec, parameters, charts/*.png), metrics.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="target/quickstart"
rm -rf "$OUT"
jobs/train.sh output.dir="$OUT" "$@"
# (the job prints the summary; it is also in $OUT/summary.json)
echo "charts: $OUT/model/charts/loss.png, $OUT/model/charts/expert-load.png"
