#!/usr/bin/env bash
# Runs one spark-moe job command (org.sparkmoe.job.MoEJob) the same way on a laptop and on a cluster.
#
#   jobs/moe-submit.sh <train|evaluate|score|inspect|retrain|rollback> [spark options] [job settings]
#
# spark options (passed to spark-submit): --master URL, --deploy-mode, --name, --driver-memory,
#   --executor-memory, --executor-cores, --num-executors, --total-executor-cores, --jars, --files,
#   --queue, --properties-file, --conf spark.*=VALUE (any --conf whose key starts with "spark.").
# job settings (passed to MoEJob): key=value, --conf key=value, --config FILE; keys in conf/moe-job.properties.
#
# With Spark installed (SPARK_HOME set, or spark-submit on PATH) this is spark-submit. Without it,
# it runs org.apache.spark.deploy.SparkSubmit from the Maven-resolved jars with the JVM flags Spark
# needs on Java 17 (pom.xml's spark.jvm.args), master local[*] unless --master is given.
# The application jar (target/spark-moe_2.13-*-app.jar, Spark/Hadoop/Scala not included) is built if missing.
# Spark line: SPARK_MOE_SPARK_LINE=4 (default) or 3.5 (Spark 3.5.x, Maven profile spark-3.5); unset, it follows
# the installed Spark's version. See jobs/common.sh.
# conf/spark-defaults.conf (Kryo) is applied first; later --conf spark.* settings override it.
# Driver logging: conf/log4j2.properties (warnings only; SPARK_MOE_LOG4J=FILE for another one).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ $# -lt 1 ]; then
    echo "usage: $0 <train|evaluate|score|inspect|retrain|rollback> [spark options] [key=value ...]" >&2
    exit 2
fi
CMD="$1"; shift

# shellcheck source=jobs/common.sh
. "$ROOT/jobs/common.sh"   # SUBMIT, SPARK_LINE, JAR (built if missing or stale), spark_moe_classpath

SPARK_ARGS=()
JOB_ARGS=()
HAVE_MASTER=0
# Kryo and the other shipped Spark defaults, as --conf pairs (the user's --conf come later and win).
while read -r k v; do
    [ -z "$k" ] && continue
    case "$k" in \#*) continue ;; esac
    SPARK_ARGS+=(--conf "$k=$v")
done < conf/spark-defaults.conf

LOG4J="${SPARK_MOE_LOG4J:-$ROOT/conf/log4j2.properties}"
SPARK_ARGS+=(--driver-java-options "-Dlog4j2.configurationFile=file:$LOG4J -Djava.awt.headless=true")

while [ $# -gt 0 ]; do
    case "$1" in
        --master) SPARK_ARGS+=("$1" "$2"); HAVE_MASTER=1; shift 2 ;;
        --master=*) SPARK_ARGS+=("$1"); HAVE_MASTER=1; shift ;;
        --deploy-mode|--name|--driver-memory|--driver-cores|--executor-memory|--executor-cores|--num-executors|\
        --total-executor-cores|--jars|--files|--queue|--properties-file|--driver-java-options|--driver-class-path|\
        --packages|--repositories|--archives|--principal|--keytab)
            SPARK_ARGS+=("$1" "$2"); shift 2 ;;
        --verbose|--supervise) SPARK_ARGS+=("$1"); shift ;;
        --conf)
            case "$2" in spark.*) SPARK_ARGS+=(--conf "$2") ;; *) JOB_ARGS+=(--conf "$2") ;; esac
            shift 2 ;;
        *) JOB_ARGS+=("$1"); shift ;;
    esac
done

if [ -n "$SUBMIT" ]; then
    exec "$SUBMIT" --class org.sparkmoe.job.MoEJob "${SPARK_ARGS[@]}" "$JAR" "$CMD" "${JOB_ARGS[@]}"
fi

# No Spark installation: SparkSubmit from the Maven-resolved jars (compile + provided scope) of SPARK_LINE.
CP_FILE="$(spark_moe_classpath)"
JVM_ARGS="$(sed -n 's:.*<spark.jvm.args>\(.*\)</spark.jvm.args>.*:\1:p' pom.xml)"
[ "$HAVE_MASTER" = 1 ] || SPARK_ARGS+=(--master "local[*]")
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:--Xmx4g} $JVM_ARGS -Djava.awt.headless=true "-Dlog4j2.configurationFile=file:$LOG4J" -cp "$(cat "$CP_FILE")" \
    org.apache.spark.deploy.SparkSubmit --class org.sparkmoe.job.MoEJob "${SPARK_ARGS[@]}" "$JAR" "$CMD" "${JOB_ARGS[@]}"
