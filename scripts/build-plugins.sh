#!/usr/bin/env bash
# Builds every plugin crate under plugins/ as a wasm32-wasip2 component and
# copies it to plugins/wasm/<crate_name_with_underscores>.wasm.
#
# Usage: scripts/build-plugins.sh [crate ...]   (default: every crate in plugins/)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    for manifest in plugins/*/Cargo.toml; do
        crates+=("$(basename "$(dirname "$manifest")")")
    done
fi

args=()
for crate in "${crates[@]}"; do
    args+=(-p "$crate")
done
cargo build --profile release-wasm --target wasm32-wasip2 "${args[@]}"

mkdir -p plugins/wasm
for crate in "${crates[@]}"; do
    file="${crate//-/_}.wasm"
    cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release-wasm/$file" "plugins/wasm/$file.tmp"
    mv "plugins/wasm/$file.tmp" "plugins/wasm/$file"
    echo "plugins/wasm/$file"
done
