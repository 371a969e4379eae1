#!/usr/bin/env bash
# Apache Kafka for the project: installs a pinned release from Maven Central
# into a cache outside the checkout, and formats and runs KRaft nodes.
#
# The rule that keeps a run reproducible: the jars on the class path are
# exactly those listed in scripts/kafka/libs.sha256, checked on every
# install; a jar that does not match is never run (the cache is refilled).
#
#   scripts/kafka.sh install              fetch and check the jars (skips a checked cache)
#   scripts/kafka.sh libs                 print the class-path folder (installs first)
#   scripts/kafka.sh uuid                 a new cluster or directory id
#   scripts/kafka.sh format DIR ID ARGS   format DIR/data for DIR/server.properties once;
#                                         ARGS: --standalone, or --initial-controllers LIST
#   scripts/kafka.sh run DIR              exec the node of DIR/server.properties (the
#                                         caller's pid becomes the JVM's: kill -9 reaches it)
#   scripts/kafka.sh single DIR PORT      write DIR/server.properties for one
#                                         broker+controller on 127.0.0.1:PORT (controller PORT+1)
#
# KAFKA_HEAP (default 512m) bounds each node's heap; PIPELINE_CACHE_DIR
# (default ~/.cache/pipeline) holds the jars; Maven's own cache (~/.m2) makes
# a refill offline.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_version=$(sed -n "s|^  <version>\(.*\)</version>|\1|p" "$here/kafka/pom.xml" | head -n 1)
cache_dir="${PIPELINE_CACHE_DIR:-$HOME/.cache/pipeline}/kafka-$kafka_version"
libs="$cache_dir/libs"
manifest="$here/kafka/libs.sha256"

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

require_java() {
  if ! command -v java >/dev/null; then
    echo "error: Apache Kafka needs Java 17 or newer and java is not installed (apt-get install openjdk-17-jre-headless)," \
      "or use nisshi: PIPELINE_BROKER=nisshi" >&2
    exit 1
  fi
  local major
  major=$(java_major)
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    echo "error: Apache Kafka $kafka_version needs Java 17 or newer; java here is ${major:-unknown}" >&2
    exit 1
  fi
}

# Checks $1 (a folder of jars) against the manifest: every listed jar present
# with its checksum, and nothing else on the class path.
check_libs() {
  local dir=$1
  [ -d "$dir" ] || return 1
  (cd "$dir" && sha256sum --quiet --strict -c "$manifest" >/dev/null 2>&1) || return 1
  [ "$(find "$dir" -maxdepth 1 -name '*.jar' | wc -l)" -eq "$(wc -l <"$manifest")" ]
}

install() {
  local update=${1:-}
  if [ -f "$libs/.checked" ] && cmp -s "$manifest" "$libs/.checked"; then
    return 0
  fi
  if check_libs "$libs"; then
    cp "$manifest" "$libs/.checked"
    return 0
  fi
  require_java
  if ! command -v mvn >/dev/null; then
    echo "error: installing Apache Kafka $kafka_version needs Maven (apt-get install maven)" >&2
    exit 1
  fi
  echo "install: Apache Kafka $kafka_version from Maven Central into $libs"
  mkdir -p "$cache_dir"
  local fresh
  fresh=$(mktemp -d "$cache_dir/.libs.XXXXXX")
  # -C: a jar whose checksum differs from the repository's fails the fetch.
  if ! mvn -B -q -C -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$fresh" >"$cache_dir/install.log" 2>&1; then
    rm -rf "$fresh"
    echo "error: fetching Apache Kafka $kafka_version with Maven failed; see $cache_dir/install.log" >&2
    tail -n 20 "$cache_dir/install.log" >&2
    exit 1
  fi
  if [ "$update" = --update-checksums ]; then
    (cd "$fresh" && sha256sum -- *.jar) >"$manifest"
    echo "install: wrote $manifest ($(wc -l <"$manifest") jars); commit it with kafka/pom.xml"
  fi
  if ! check_libs "$fresh"; then
    echo "error: the jars Maven fetched for Kafka $kafka_version do not match $manifest:" >&2
    (cd "$fresh" && sha256sum --strict -c "$manifest" 2>&1 | grep -v ': OK$' | head -n 10) >&2 || true
    rm -rf "$fresh"
    exit 1
  fi
  cp "$manifest" "$fresh/.checked"
  rm -rf "$libs"
  mv "$fresh" "$libs"
}

java_cmd() { # main-class args...
  require_java
  install
  exec java -Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
    -cp "$libs/*" "$@"
}

case "${1:-}" in
install)
  install "${2:-}"
  ;;
libs)
  install >&2
  echo "$libs"
  ;;
uuid)
  install >&2
  # The id is the last line; Kafka's start-up log lines come before it.
  (KAFKA_HEAP=64m java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null) | tail -n 1
  ;;
format)
  dir=${2:?format DIR CLUSTER_ID [--standalone | --initial-controllers LIST]}
  cluster_id=${3:?format DIR CLUSTER_ID [--standalone | --initial-controllers LIST]}
  shift 3
  if [ -f "$dir/data/meta.properties" ]; then
    exit 0
  fi
  (KAFKA_HEAP=128m java_cmd kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$dir/server.properties" "$@") >"$dir/format.log" 2>&1 || {
    echo "error: formatting the Kafka storage in $dir/data failed; see $dir/format.log" >&2
    tail -n 20 "$dir/format.log" >&2
    exit 1
  }
  ;;
run)
  dir=${2:?run DIR}
  java_cmd kafka.Kafka "$dir/server.properties"
  ;;
single)
  dir=${2:?single DIR PORT}
  port=${3:?single DIR PORT}
  controller_port=$((port + 1))
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The official distribution's single-node (combined) settings: one node is
  # broker and controller, the internal topics have one replica.
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka.sh single; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# The pipeline creates its topics itself (with their partitions); a topic
# created by a stray client's metadata request would have one partition.
auto.create.topics.enable=false
# Kafka's own development configuration sets this to 0 (the default is 3 s):
# the first rebalance of a group does not wait 3 s for more members. A
# production cluster keeps the default; the members' start does not rely on it.
group.initial.rebalance.delay.ms=0
# The members' classic group settings are a 10 s session and 1 s heartbeats
# (host/src/kafka/client.rs). Under Kafka 4's consumer group protocol the
# broker sets both, by default 45 s and 5 s and no lower; the same values
# here, so a member killed -9 leaves the group as soon with either protocol.
group.consumer.min.session.timeout.ms=10000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=1000
group.consumer.heartbeat.interval.ms=1000
EOF
  ;;
*)
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
