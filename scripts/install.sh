#!/usr/bin/env bash
# Installs what building, running and testing need, skipping what is there:
# the wasm32-wasip2 target (plugins), just, nisshi 0.8.1 (the local Kafka-
# compatible broker; it needs rustc 1.96, so it gets its own toolchain), and
# the Debian packages librdkafka's build uses.
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

if ! command -v nisshi >/dev/null || ! nisshi --version 2>/dev/null | grep -q '0\.8\.1'; then
  echo "install: nisshi 0.8.1 (11 to 20 minutes on 2 cores)"
  rustup toolchain install 1.96.0 --profile minimal
  cargo +1.96.0 install nisshi@0.8.1 --locked
fi
