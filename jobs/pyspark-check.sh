#!/usr/bin/env bash
# Runs the PySpark check (src/test/python/test_sparkmoe_pyspark.py): the sparkmoe Python wrappers
# (src/main/python) driving the JVM estimators in a pyspark Pipeline, save/load, TrainValidationSplit.
#
#   jobs/pyspark-check.sh [extra unittest arguments]
#
# Needs a python3 that can import pyspark and py4j (pip install pyspark==4.*, or pyspark==3.5.* for the Spark 3.5
# build; or PYTHONPATH pointing at a Spark distribution's python/ and python/lib/py4j-*.zip). Without them it prints SKIPPED and exits 0:
# the check did not run. With Spark installed ($SPARK_HOME/bin/spark-submit, or the one inside a pip
# pyspark) pyspark launches the JVM with it and the app jar is passed with --jars. Without a Spark
# installation a small SPARK_HOME shim (target/pyspark-home/bin/spark-submit) runs Spark's SparkSubmit
# from the Maven-resolved jars, as jobs/moe-submit.sh does. conf/spark-defaults.conf (Kryo with our
# registrator) is applied in both cases. The sparkmoe package is imported from the app jar (mvn package puts
# src/main/python into it). PYTHON=... picks the interpreter; SPARK_MOE_CHECK_TIMEOUT (s) bounds the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import pyspark, py4j' >/dev/null 2>&1; then
    echo "SKIPPED: pyspark check not run: '$PYTHON' cannot import pyspark and py4j" \
         "(pip install pyspark, or set PYTHONPATH to a Spark distribution's python/ and its py4j zip)." >&2
    exit 0
fi

LOG4J="${SPARK_MOE_LOG4J:-$ROOT/conf/log4j2.properties}"

if [ -z "${SPARK_HOME:-}" ]; then
    # a pip-installed pyspark carries its own Spark (bin/spark-submit and jars/)
    PIP_HOME="$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
    [ -x "$PIP_HOME/bin/spark-submit" ] && [ -d "$PIP_HOME/jars" ] && export SPARK_HOME="$PIP_HOME"
fi
# shellcheck source=jobs/common.sh
. "$ROOT/jobs/common.sh"   # SPARK_LINE (follows that Spark's version), JAR (built if missing or stale), spark_moe_classpath
if [ -n "${SPARK_HOME:-}" ] && [ -x "$SPARK_HOME/bin/spark-submit" ]; then
    echo "pyspark check: Spark at $SPARK_HOME" >&2
else
    # No Spark installation: SparkSubmit from the Maven-resolved jars (compile + provided scope).
    CP_FILE="$(spark_moe_classpath)"
    export SPARK_HOME="$ROOT/target/pyspark-home"
    mkdir -p "$SPARK_HOME/bin"
    JVM_ARGS="$(sed -n 's:.*<spark.jvm.args>\(.*\)</spark.jvm.args>.*:\1:p' pom.xml)"
    cat > "$SPARK_HOME/bin/spark-submit" <<EOF
#!/usr/bin/env bash
# Written by jobs/pyspark-check.sh: spark-submit without a Spark distribution (pyspark starts its JVM with it).
exec java \${JAVA_OPTS:--Xmx2g} $JVM_ARGS -Djava.awt.headless=true -Dlog4j2.configurationFile=file:$LOG4J -cp "$(cat "$CP_FILE"):$JAR" \\
    org.apache.spark.deploy.SparkSubmit "\$@"
EOF
    chmod +x "$SPARK_HOME/bin/spark-submit"
    echo "pyspark check: no Spark installation; SPARK_HOME shim $SPARK_HOME" >&2
fi

# What pyspark passes to spark-submit when it starts the JVM.
SUBMIT_ARGS="--jars $JAR --properties-file $ROOT/conf/spark-defaults.conf"
SUBMIT_ARGS+=" --driver-java-options -Dlog4j2.configurationFile=file:$LOG4J"
export PYSPARK_SUBMIT_ARGS="$SUBMIT_ARGS pyspark-shell"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PYTHON}"
export OPENBLAS_NUM_THREADS=1
# The wrappers are imported from the app jar itself (it carries src/main/python), as users would.
export PYTHONPATH="$JAR${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT/src/test/python"
# (py4j leaves sockets to the garbage collector: ResourceWarnings under unittest are noise)
exec timeout "${SPARK_MOE_CHECK_TIMEOUT:-1800}" "$PYTHON" -W ignore::ResourceWarning -m unittest -v test_sparkmoe_pyspark "$@"
