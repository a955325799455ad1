# Sourced by jobs/moe-submit.sh and jobs/pyspark-check.sh (not run on its own), with ROOT set and the
# working directory at ROOT. Picks the Spark line, builds the application jar for it when missing or
# stale, and resolves the Maven classpath that stands in for a Spark installation. Exports
# OPENBLAS_NUM_THREADS=1 unless the caller set it. Sets:
#   SUBMIT      the installed spark-submit ($SPARK_HOME/bin/spark-submit, else spark-submit on PATH), or ""
#   SPARK_LINE  4 or 3.5: $SPARK_MOE_SPARK_LINE if set, else the installed Spark's line, else 4
#   MVN_PROFILE the Maven profile flag for that line ("" for 4, -Pspark-3.5 for 3.5)
#   JAR         target/spark-moe_2.13-<version>-app.jar, built for SPARK_LINE
# and defines spark_moe_classpath (prints the path of the compile+provided classpath file for SPARK_LINE).

# One BLAS thread per Spark task (conf/spark-defaults.conf sets it for executors; local mode reads this
# process's environment): a multi-threaded OpenBLAS inside every task took 4-5x the task CPU per step
# (BENCHMARKS.md, "Session-5 fit work"). A value the caller exported wins.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

SUBMIT=""
if [ -n "${SPARK_HOME:-}" ] && [ -x "$SPARK_HOME/bin/spark-submit" ]; then
    SUBMIT="$SPARK_HOME/bin/spark-submit"
elif command -v spark-submit >/dev/null 2>&1; then
    SUBMIT="$(command -v spark-submit)"
fi

SPARK_LINE="${SPARK_MOE_SPARK_LINE:-}"
if [ -z "$SPARK_LINE" ] && [ -n "$SUBMIT" ]; then
    # the installed Spark's version, from its jars (spark-core_2.13-3.5.6.jar) without starting a JVM
    INSTALLED="$(ls "$(dirname "$(dirname "$(readlink -f "$SUBMIT")")")"/jars/spark-core_*.jar 2>/dev/null | head -1)"
    case "$(basename "${INSTALLED:-none}")" in spark-core_*-3.5.*) SPARK_LINE=3.5 ;; esac
fi
SPARK_LINE="${SPARK_LINE:-4}"
case "$SPARK_LINE" in
    4|4.*) SPARK_LINE=4; MVN_PROFILE="" ;;
    3.5|3.5.*) SPARK_LINE=3.5; MVN_PROFILE="-Pspark-3.5" ;;
    *) echo "SPARK_MOE_SPARK_LINE=$SPARK_LINE: spark-moe builds for Spark 4 (4.x) and 3.5 (3.5.x)" >&2; exit 2 ;;
esac

VERSION="$(sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -1)"
JAR="$ROOT/target/spark-moe_2.13-$VERSION-app.jar"
# target/ holds one build: the marker says for which Spark line, and a jar of the other line is rebuilt.
LINE_MARKER="$ROOT/target/spark-line.txt"
if [ ! -f "$JAR" ] || [ "$(cat "$LINE_MARKER" 2>/dev/null)" != "$SPARK_LINE" ] \
        || [ -n "$(find src/main conf pom.xml -newer "$JAR" -type f 2>/dev/null | head -1)" ]; then
    echo "building $JAR for Spark $SPARK_LINE ..." >&2
    # classes compiled against the other Spark line must not survive into this jar
    CLEAN=""
    [ "$(cat "$LINE_MARKER" 2>/dev/null || echo 4)" = "$SPARK_LINE" ] || CLEAN=clean
    mvn -q -B $MVN_PROFILE -DskipTests $CLEAN package >&2
    echo "$SPARK_LINE" > "$LINE_MARKER"
fi

spark_moe_classpath() {
    local cp_file="$ROOT/target/job-classpath-$SPARK_LINE.txt"
    if [ ! -s "$cp_file" ] || [ pom.xml -nt "$cp_file" ]; then
        mvn -q -B $MVN_PROFILE dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=compile >&2
    fi
    echo "$cp_file"
}
