#!/usr/bin/env bash
# Installs what building, running and testing need, skipping what is there:
# the Debian packages (MariaDB's server and client, what librdkafka's build
# uses, Java and Maven where they are missing), the wasm32-wasip2 target
# (plugins), just, Apache Kafka's jars (scripts/kafka.sh, from Maven Central
# into ~/.cache/pipeline) and, where the broker is nisshi (PIPELINE_BROKER=
# nisshi, or no Java), nisshi 0.8.1.
#
# Building nisshi takes 11 to 20 minutes on two cores, so it is built in the
# background (log: run/nisshi-install.log) while the project builds;
# scripts/services.sh waits for it before it starts the broker.
set -euo pipefail

missing_debs=()
for package in build-essential pkg-config libssl-dev zlib1g-dev python3-venv mariadb-server mariadb-client; do
  dpkg -s "$package" >/dev/null 2>&1 || missing_debs+=("$package")
done
# Apache Kafka needs Java 17 and Maven to fetch it; the machine's own are used when present.
command -v java >/dev/null || missing_debs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing_debs+=(maven)
# python3-venv only matters where the system python is used; pyenv's has venv.
if [ ${#missing_debs[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  if python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing_debs=("${missing_debs[@]/python3-venv/}")
  fi
  packages=$(printf '%s ' "${missing_debs[@]}" | xargs)
  if [ -n "$packages" ]; then
    echo "install: Debian packages $packages"
    # policy-rc.d may forbid starting services from a package's install
    # (containers); scripts/services.sh starts MariaDB itself.
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null) ||
      echo "warning: could not install $packages; the build or the services may fail" >&2
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "install: rustup target wasm32-wasip2"
  rustup target add wasm32-wasip2
fi

if ! command -v just >/dev/null; then
  echo "install: just"
  cargo install just --locked
fi

# A prebuilt nisshi 0.8.1 may sit beside the checkout (../shared/cache, on the
# project's own machines): use it when its checksum matches, build otherwise.
nisshi_cache="$(cd "$(dirname "$0")/.." && pwd)/../shared/cache/nisshi-0.8.1-x86_64-linux-gnu.xz"
nisshi_sha256=7c652b3eff36e3b70b445f5f051662dcd40f4d720b49ea393c358b32efd4a363
install_cached_nisshi() {
  [ -r "$nisshi_cache" ] && [ "$(uname -m)" = x86_64 ] || return 1
  local dir tmp
  dir="$HOME/.cargo/bin"
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.nisshi.XXXXXX")
  if xz -dc "$nisshi_cache" >"$tmp" && echo "$nisshi_sha256  $tmp" | sha256sum -c --quiet - 2>/dev/null; then
    chmod 755 "$tmp" && mv "$tmp" "$dir/nisshi"
    "$dir/nisshi" --version 2>/dev/null | grep -q '0\.8\.1' && return 0
  fi
  rm -f "$tmp"
  echo "install: the cached nisshi in $nisshi_cache did not check out; building it" >&2
  return 1
}
# The broker scripts/services.sh will start (the same choice it makes).
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
if [ -n "$java_major" ] && [ "$java_major" -ge 17 ]; then
  broker_kind=${PIPELINE_BROKER:-kafka}
else
  broker_kind=${PIPELINE_BROKER:-nisshi}
fi
if [ "$broker_kind" = kafka ]; then
  "$(dirname "$0")/kafka.sh" install
fi

# nisshi: from the prebuilt cache whenever it is there (seconds; the bench
# and the broker-comparison tests use it beside Kafka), built from crates.io
# only where it is the broker.
if ! command -v nisshi >/dev/null || ! nisshi --version 2>/dev/null | grep -q '0\.8\.1'; then
  if install_cached_nisshi; then
    echo "install: nisshi 0.8.1 from $nisshi_cache (checksum verified)"
  elif [ "$broker_kind" = nisshi ]; then
    run_dir="$(cd "$(dirname "$0")/.." && pwd)/run"
    mkdir -p "$run_dir"
    pid_file="$run_dir/nisshi-install.pid"
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "install: nisshi 0.8.1 is already being built (pid $(cat "$pid_file"), log $run_dir/nisshi-install.log)"
    else
      echo "install: nisshi 0.8.1, built in the background (11 to 20 minutes on 2 cores; log $run_dir/nisshi-install.log)"
      nohup bash -c 'rustup toolchain install 1.96.0 --profile minimal &&
        cargo +1.96.0 install nisshi@0.8.1 --locked' \
        >"$run_dir/nisshi-install.log" 2>&1 </dev/null &
      echo $! >"$pid_file"
    fi
  fi
fi

# componentize-py and componentize-js (pinned, inside the checkout) for the
# Python and JavaScript plugins.
"$(dirname "$0")/install-plugin-tools.sh"
