#!/usr/bin/env bash
# Debezium on Kafka Connect for the bench's side-by-side comparison: installs
# the pinned jars from Maven Central into a cache outside the checkout, and
# runs a standalone Connect worker the way Kafka's bin/connect-standalone.sh
# does (its heap and JVM options).
#
# The rule that keeps a run reproducible: the jars on the worker's class path
# and in the plugin folder are exactly those listed in connect/libs.sha256 and
# connector-mariadb/libs.sha256, checked on every install; a folder that does
# not match is never run (it is fetched again).
#
#   bench/debezium/install.sh install [--update-checksums]   fetch and check
#   bench/debezium/install.sh paths     print the worker's class-path folder
#                                       and the plugin.path folder (installs first)
#   bench/debezium/install.sh run WORKER CONNECTOR
#                                       exec ConnectStandalone (the caller's
#                                       pid becomes the JVM's)
#
# PIPELINE_CACHE_DIR (default ~/.cache/pipeline) holds the jars; Maven's own
# cache (~/.m2) makes a refill offline.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
debezium_version=3.5.0.Final
root="${PIPELINE_CACHE_DIR:-$HOME/.cache/pipeline}/debezium-$debezium_version"
connect_dir="$root/connect"
plugin_path="$root/plugins"
plugin_dir="$plugin_path/debezium-connector-mariadb"

require_tools() {
  if ! command -v java >/dev/null; then
    echo "error: Kafka Connect needs Java 17 or newer (apt-get install openjdk-17-jre-headless)" >&2
    exit 1
  fi
  if ! command -v mvn >/dev/null; then
    echo "error: installing Debezium needs Maven (apt-get install maven)" >&2
    exit 1
  fi
}

# Checks folder $1 against manifest $2: every listed jar with its checksum,
# and no other jar.
check_libs() {
  local dir=$1 manifest=$2
  [ -d "$dir" ] || return 1
  (cd "$dir" && sha256sum --quiet --strict -c "$manifest" >/dev/null 2>&1) || return 1
  [ "$(find "$dir" -maxdepth 1 -name '*.jar' | wc -l)" -eq "$(wc -l <"$manifest")" ]
}

# Fills folder $2 with the runtime jars of component $1 (a folder beside
# this script with pom.xml and libs.sha256), unless it already matches.
install_component() {
  local component=$1 target=$2 update=${3:-}
  local pom="$here/$component/pom.xml" manifest="$here/$component/libs.sha256"
  if [ -z "$update" ] && [ -f "$target/.checked" ] && cmp -s "$manifest" "$target/.checked"; then
    return 0
  fi
  if [ -z "$update" ] && check_libs "$target" "$manifest"; then
    cp "$manifest" "$target/.checked"
    return 0
  fi
  require_tools
  echo "install: $component from Maven Central into $target" >&2
  mkdir -p "$(dirname "$target")"
  local fresh
  fresh=$(mktemp -d "$(dirname "$target")/.libs.XXXXXX")
  # -C: a jar whose checksum differs from the repository's fails the fetch.
  if ! mvn -B -q -C -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$fresh" >"$root/install-$component.log" 2>&1; then
    rm -rf "$fresh"
    echo "error: fetching $component with Maven failed; see $root/install-$component.log" >&2
    tail -n 20 "$root/install-$component.log" >&2
    exit 1
  fi
  if [ "$update" = --update-checksums ]; then
    (cd "$fresh" && sha256sum -- *.jar) >"$manifest"
    echo "install: wrote $manifest ($(wc -l <"$manifest") jars); commit it with $component/pom.xml" >&2
  fi
  if ! check_libs "$fresh" "$manifest"; then
    echo "error: the jars Maven fetched for $component do not match $manifest:" >&2
    (cd "$fresh" && sha256sum --strict -c "$manifest" 2>&1 | grep -v ': OK$' | head -n 10) >&2 || true
    rm -rf "$fresh"
    exit 1
  fi
  cp "$manifest" "$fresh/.checked"
  rm -rf "$target"
  mv "$fresh" "$target"
}

install() {
  mkdir -p "$root"
  install_component connect "$connect_dir" "${1:-}"
  install_component connector-mariadb "$plugin_dir" "${1:-}"
}

case "${1:-}" in
install)
  install "${2:-}"
  ;;
paths)
  install
  echo "$connect_dir"
  echo "$plugin_path"
  ;;
run)
  worker=${2:?run WORKER_PROPERTIES CONNECTOR_PROPERTIES}
  connector=${3:?run WORKER_PROPERTIES CONNECTOR_PROPERTIES}
  install
  # bin/connect-standalone.sh's heap and kafka-run-class.sh's JVM options:
  # what a user starting Connect from Kafka's distribution gets.
  exec java -Xms256M -Xmx2G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:MaxInlineLevel=15 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$connect_dir/*" org.apache.kafka.connect.cli.ConnectStandalone "$worker" "$connector"
  ;;
*)
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
