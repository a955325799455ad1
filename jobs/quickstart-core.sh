#!/usr/bin/env bash
# Builds the project and runs the single-JVM quickstart on the built-in synthetic data:
# an MoE with and without the balancing losses vs a dense network of the same compute per example.
# Usage: jobs/quickstart-core.sh [steps] [experts]   (no Spark: the math core alone, in one JVM)
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -B -DskipTests compile dependency:build-classpath \
    -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=compile
exec java -cp "target/classes:$(cat target/classpath.txt)" org.sparkmoe.core.train.Quickstart "$@"
