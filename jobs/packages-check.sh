#!/usr/bin/env bash
# Checks that spark-moe works as a published dependency, the way users consume it:
#   1. puts the library jar (target/spark-moe_2.13-<version>.jar, built with the app jar) and its pom into a
#      throw-away Maven repository, in the layout Maven's install would write (~/.m2 is left alone),
#   2. spark-submit --packages org.sparkmoe:spark-moe_2.13:<version> --repositories file://<that repository>
#      resolves the library and its dependencies (ojAlgo, JFreeChart) with Spark's own Ivy resolution, and runs
#      the job from the resolved jar (no application jar: the primary resource is spark-internal):
#      train (fit, save) a small model, then evaluate it (load, evaluation on held-out data).
#
#   jobs/packages-check.sh            (SPARK_MOE_SPARK_LINE=3.5 for the Spark 3.5 build)
#
# With Spark installed that spark-submit is used; without one, Spark's SparkSubmit from the Maven-resolved jars
# (as jobs/moe-submit.sh does). Spark's Ivy cache goes to a temporary directory too, so nothing is taken from an
# earlier run. Exit code 0 when both runs succeed and the evaluation printed its perplexity.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=jobs/common.sh
. "$ROOT/jobs/common.sh"   # SUBMIT, SPARK_LINE, MVN_PROFILE, JAR (built), spark_moe_classpath

WORK="$(mktemp -d "${TMPDIR:-/tmp}/spark-moe-packages.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/m2"
LIB="$ROOT/target/spark-moe_2.13-$VERSION.jar"
[ -f "$LIB" ] || { echo "missing $LIB (the library jar; mvn package builds it beside the app jar)" >&2; exit 1; }
# The library jar and the pom Maven deploys with it (the same file as pom.xml for this single-module project),
# laid out as a Maven repository holds a release: <group path>/<artifact>/<version>/<artifact>-<version>.{jar,pom}.
# Written directly rather than with install:install-file, whose plugin a fresh machine without network would lack.
ARTIFACT_DIR="$REPO/org/sparkmoe/spark-moe_2.13/$VERSION"
mkdir -p "$ARTIFACT_DIR"
cp "$LIB" "$ARTIFACT_DIR/spark-moe_2.13-$VERSION.jar"
cp pom.xml "$ARTIFACT_DIR/spark-moe_2.13-$VERSION.pom"
COORD="org.sparkmoe:spark-moe_2.13:$VERSION"
echo "installed $COORD into $REPO" >&2

LOG4J="${SPARK_MOE_LOG4J:-$ROOT/conf/log4j2.properties}"
SPARK_ARGS=(--packages "$COORD" --repositories "file://$REPO" --conf "spark.jars.ivy=$WORK/ivy"
            --driver-java-options "-Dlog4j2.configurationFile=file:$LOG4J -Djava.awt.headless=true")
while read -r k v; do
    [ -z "$k" ] && continue
    case "$k" in \#*) continue ;; esac
    SPARK_ARGS+=(--conf "$k=$v")
done < conf/spark-defaults.conf

submit() {
    if [ -n "$SUBMIT" ]; then
        "$SUBMIT" --master "local[2]" "${SPARK_ARGS[@]}" --class org.sparkmoe.job.MoEJob spark-internal "$@"
    else
        local cp
        cp="$(cat "$(spark_moe_classpath)")"
        # shellcheck disable=SC2086
        java ${JAVA_OPTS:--Xmx2g} $(sed -n 's:.*<spark.jvm.args>\(.*\)</spark.jvm.args>.*:\1:p' pom.xml) \
            -Djava.awt.headless=true "-Dlog4j2.configurationFile=file:$LOG4J" -cp "$cp" \
            org.apache.spark.deploy.SparkSubmit --master "local[2]" "${SPARK_ARGS[@]}" \
            --class org.sparkmoe.job.MoEJob spark-internal "$@"
    fi
}

export OPENBLAS_NUM_THREADS=1
submit train output.dir="$WORK/out" optim.maxSteps=5 synthetic.documents=100
submit evaluate job.model="$WORK/out/model" evaluate.output="$WORK/eval.json"
grep -q perplexity "$WORK/eval.json" || { echo "evaluation wrote no perplexity: $(cat "$WORK/eval.json")" >&2; exit 1; }
echo "packages check passed (Spark $SPARK_LINE): $COORD from file://$REPO via spark-submit --packages" >&2
