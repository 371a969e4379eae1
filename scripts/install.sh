#!/usr/bin/env bash
# Installs what building, running and testing need, skipping what is there:
# the wasm32-wasip2 target (plugins), just, nisshi 0.8.1 (the local Kafka-
# compatible broker; it needs rustc 1.96, so it gets its own toolchain), and
# the Debian packages librdkafka's build uses.
#
# Building nisshi takes 11 to 20 minutes on two cores, so it is built in the
# background (log: run/nisshi-install.log) while the project builds;
# scripts/services.sh waits for it before it starts the broker.
set -euo pipefail

missing_debs=()
for package in build-essential pkg-config libssl-dev zlib1g-dev python3-venv; do
  dpkg -s "$package" >/dev/null 2>&1 || missing_debs+=("$package")
done
# python3-venv only matters where the system python is used; pyenv's has venv.
if [ ${#missing_debs[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  if python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing_debs=("${missing_debs[@]/python3-venv/}")
  fi
  packages=$(printf '%s ' "${missing_debs[@]}" | xargs)
  if [ -n "$packages" ]; then
    echo "install: Debian packages $packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages) ||
      echo "warning: could not install $packages; the build may fail" >&2
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
if ! command -v nisshi >/dev/null || ! nisshi --version 2>/dev/null | grep -q '0\.8\.1'; then
  if install_cached_nisshi; then
    echo "install: nisshi 0.8.1 from $nisshi_cache (checksum verified)"
  else
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
