#!/bin/bash
# Starts one KRaft broker+controller. Configuration as the apache/kafka image reads it: every
# KAFKA_<NAME> variable is a property (`_` is `.`, `__` is `_`, `___` is `-`; KAFKA_PROCESS_ROLES is
# process.roles), CLUSTER_ID names the cluster; with no KAFKA_ property at all, a broker on :9092.
set -euo pipefail

config=/opt/kafka/config/server.properties
not_properties=" KAFKA_HEAP_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_OPTS KAFKA_LOG4J_OPTS KAFKA_GC_LOG_OPTS KAFKA_JMX_OPTS "

: > "${config}"
while IFS= read -r variable; do
    [[ ${variable} == KAFKA_* && ${not_properties} != *" ${variable} "* ]] || continue
    name=${variable#KAFKA_}
    name=${name//___/-}
    name=${name//__/@}
    name=${name//_/.}
    name=${name//@/_}
    printf '%s=%s\n' "${name,,}" "${!variable}" >> "${config}"
done < <(compgen -e)

if [[ ! -s ${config} ]]; then
    cat > "${config}" <<'DEFAULTS'
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.voters=1@localhost:9093
log.dirs=/var/lib/kafka/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
DEFAULTS
fi
grep -q '^log\.dirs=' "${config}" || echo "log.dirs=/var/lib/kafka/data" >> "${config}"

classpath='/opt/kafka/libs/*'
log4j=-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties
# C1 only: a test or development broker lives minutes, and C2's compile work slows its start on small machines.
quick_start=-XX:TieredStopAtLevel=1

format=(format --ignore-formatted -t "${CLUSTER_ID:-MkU3OEVBNTcwNTJENDM2Qk}" -c "${config}")
# A dynamic quorum (controller.quorum.bootstrap.servers) is formatted as a standalone controller.
grep -q '^controller\.quorum\.voters=' "${config}" || format+=(--standalone)
java -Xmx256m "${quick_start}" "${log4j}" -cp "${classpath}" kafka.tools.StorageTool "${format[@]}" > /dev/null

# shellcheck disable=SC2086  # the *_OPTS variables are lists of JVM options
exec java ${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 ${quick_start}} \
    -Djava.awt.headless=true "${log4j}" ${KAFKA_OPTS:-} \
    -cp "${classpath}" kafka.Kafka "${config}"
