#!/bin/bash
# The local Kafka image's start script (/etc/kafka/docker/run), doing what apache/kafka's does:
#  - server.properties from the environment: KAFKA_FOO_BAR=x becomes foo.bar=x ("__" stands for
#    "_" and "___" for "-"), appended to /mnt/shared/config/server.properties when one is mounted;
#    with neither, a single-node broker+controller on localhost:9092;
#  - KAFKA_LISTENERS, when unset, is KAFKA_ADVERTISED_LISTENERS with every host made 0.0.0.0;
#  - CLUSTER_ID (apache/kafka's default when unset) formats the storage, only where a log directory
#    holds no meta.properties yet: a restart keeps its data, and a new volume is formatted;
#  - exec: the JVM becomes PID 1 and SIGTERM (docker stop) shuts the broker down cleanly.
set -euo pipefail

config_dir=/opt/kafka/config
config=$config_dir/server.properties
mounted=/mnt/shared/config/server.properties
# apache/kafka's default cluster id: every container started without CLUSTER_ID shares it.
export CLUSTER_ID=${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}

# Variables for the JVM and logging, not broker properties (as in apache/kafka).
not_properties=" KAFKA_VERSION KAFKA_HEAP_OPTS KAFKA_LOG4J_OPTS KAFKA_OPTS KAFKA_JMX_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_GC_LOG_OPTS KAFKA_LOG4J_ROOT_LOGLEVEL KAFKA_LOG4J_LOGGERS KAFKA_TOOLS_LOG4J_LOGLEVEL KAFKA_JMX_HOSTNAME KAFKA_JMX_PORT "

if [[ "${KAFKA_PROCESS_ROLES:-}" == controller && -n "${KAFKA_ADVERTISED_LISTENERS:-}" ]]; then
  echo "KAFKA_ADVERTISED_LISTENERS is not supported on a KRaft controller." >&2
  exit 1
fi
if [[ -z "${KAFKA_LISTENERS:-}" && "${KAFKA_PROCESS_ROLES:-}" != controller && -n "${KAFKA_ADVERTISED_LISTENERS:-}" ]]; then
  export KAFKA_LISTENERS
  KAFKA_LISTENERS=$(sed -e 's|://[^:]*:|://0.0.0.0:|g' <<<"$KAFKA_ADVERTISED_LISTENERS")
fi

properties_from_environment() {
  local name key
  for name in $(compgen -e); do
    [[ $name == KAFKA_* && $not_properties != *" $name "* ]] || continue
    key=${name#KAFKA_}
    key=${key,,}
    key=${key//_/.}
    key=${key//.../-}
    key=${key//../_}
    printf '%s=%s\n' "$key" "${!name}"
  done
}

from_environment=$(properties_from_environment)
if [[ -f $mounted ]]; then
  { cat "$mounted"; echo; echo "$from_environment"; } >"$config"
elif [[ -n $from_environment ]]; then
  echo "$from_environment" >"$config"
else
  cat >"$config" <<'DEFAULTS'
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
DEFAULTS
fi

# The last value of a property wins, as java.util.Properties reads the file.
property() {
  grep -E "^[[:space:]]*$1[[:space:]]*=" "$config" | tail -n 1 | sed -e 's/^[^=]*=[[:space:]]*//' || true
}

log_dirs=$(property log.dirs)
log_dirs=${log_dirs:-$(property log.dir)}
log_dirs=${log_dirs:-/tmp/kafka-logs}
metadata_dir=$(property metadata.log.dir)
unformatted=()
IFS=',' read -ra dirs <<<"$log_dirs${metadata_dir:+,$metadata_dir}"
for dir in "${dirs[@]}"; do
  [[ -f $dir/meta.properties ]] || unformatted+=("$dir")
done
if ((${#unformatted[@]} > 0)); then
  echo "===> Formatting ${unformatted[*]} for cluster $CLUSTER_ID"
  # --ignore-formatted: directories that are formatted already keep their data.
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config "$config" --ignore-formatted
else
  echo "===> Storage in $log_dirs is formatted already; keeping it"
fi

echo "===> Launching Kafka"
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$config_dir/log4j2.properties}
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$config"
