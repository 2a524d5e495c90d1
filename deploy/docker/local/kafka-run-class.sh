#!/bin/sh
# Runs one Kafka class on the image's jars, as the distribution's bin/kafka-run-class.sh does, with
# its defaults: KAFKA_HEAP_OPTS (256 MiB for a tool), KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS, and
# tools logging warnings to stderr (KAFKA_LOG4J_OPTS overrides). exec: the JVM takes this process's
# pid, so SIGTERM reaches it.
set -eu
main_class=$1
shift
exec java \
  ${KAFKA_HEAP_OPTS:--Xmx256M} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties} \
  ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' \
  "$main_class" "$@"
