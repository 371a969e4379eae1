#!/usr/bin/env bash
# Builds every plugin under plugins/, whatever its language, as a component
# in plugins/wasm/ (each file written beside and renamed into place, so a
# running pipeline swaps in whole files only):
#   plugins/NAME/Cargo.toml        Rust crate  -> plugins/wasm/NAME.wasm     (dashes become _)
#   plugins/python/NAME/app.py     Python      -> plugins/wasm/NAME_py.wasm  (componentize-py)
#   plugins/js/NAME/index.js       JavaScript  -> plugins/wasm/NAME_js.wasm  (componentize-js)
#
# Usage: scripts/build-plugins.sh [--out DIR] [plugin ...]   (default: every plugin)
# A plugin is a Rust crate name (`cat5-discount`), a folder under plugins/
# (`python/cat5-discount`, `js/cat5-discount`, `plugins/python/my-rule`) or
# any folder with an app.py, an index.js or a Cargo.toml (a crate outside
# this workspace is built in its own, with --release). `--out DIR` writes the components
# to DIR instead of plugins/wasm: point it at a running pipeline's plugin
# folder and the new version is swapped in when it lands.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
caller="$PWD"
cd "$root"

out="$root/plugins/wasm"
if [ "${1:-}" = --out ]; then
  out="$(cd "$caller" && mkdir -p "$2" && cd "$2" && pwd)"
  shift 2
fi

crates=()
foreign=()
python=()
js=()
if [ $# -eq 0 ]; then
  for manifest in plugins/*/Cargo.toml; do
    crates+=("$(basename "$(dirname "$manifest")")")
  done
  # Without python3 (with venv) or npm, e.g. in the Docker image's build
  # stage, "every plugin" means the Rust ones, with a warning.
  if [ -x .tools/venv/bin/componentize-py ] || python3 -c 'import venv, ensurepip' 2>/dev/null; then
    for app in plugins/python/*/app.py; do
      [ -e "$app" ] && python+=("$(dirname "$app")")
    done
  else
    echo "build-plugins: no python3 with venv: the Python plugins are not built" >&2
  fi
  if [ -x plugins/js/node_modules/.bin/componentize-js ] || command -v npm >/dev/null; then
    for index in plugins/js/*/index.js; do
      [ -e "$index" ] && js+=("$(dirname "$index")")
    done
  else
    echo "build-plugins: no npm: the JavaScript plugins are not built" >&2
  fi
else
  for plugin in "$@"; do
    given="$plugin"
    [ "${plugin#/}" = "$plugin" ] && given="$caller/$plugin"
    if [ ! -e "plugins/${plugin#plugins/}" ] && { [ -e "$given/app.py" ] || [ -e "$given/index.js" ] || [ -e "$given/Cargo.toml" ]; }; then
      dir="$(cd "$given" && pwd)"
    else
      dir="plugins/${plugin#plugins/}"
      dir="${dir%/}"
    fi
    if [ -e "$dir/Cargo.toml" ] && [ "$(cd "$dir/.." && pwd)" = "$root/plugins" ]; then
      crates+=("$(basename "$dir")")
    elif [ -e "$dir/Cargo.toml" ]; then
      foreign+=("$dir")
    elif [ -e "$dir/app.py" ]; then
      python+=("$dir")
    elif [ -e "$dir/index.js" ]; then
      js+=("$dir")
    else
      echo "build-plugins: no plugin $plugin ($dir has no Cargo.toml, app.py or index.js)" >&2
      exit 2
    fi
  done
fi

mkdir -p "$out"
# Whether $out/$1 is newer than every file of folder $2 and the WIT
# (cargo does this for Rust; componentize-py/js rebuild from scratch).
up_to_date() {
  [ -e "$out/$1" ] &&
    [ -z "$(find "$2" wit -newer "$out/$1" -not -path '*/__pycache__*' -print -quit)" ]
}

# Moves a built component into place under its final name.
install_wasm() {
  mv "$out/$1.tmp" "$out/$1"
  echo "$out/$1"
}

if [ ${#crates[@]} -gt 0 ] || [ ${#foreign[@]} -gt 0 ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
  fi
fi

if [ ${#crates[@]} -gt 0 ]; then
  args=()
  for crate in "${crates[@]}"; do
    args+=(-p "$crate")
  done
  cargo build --profile release-wasm --target wasm32-wasip2 "${args[@]}"
  for crate in "${crates[@]}"; do
    file="${crate//-/_}.wasm"
    cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release-wasm/$file" "$out/$file.tmp"
    install_wasm "$file"
  done
fi

# A crate of another workspace (a plugin's own repository, a test's copy):
# its workspace's release profile and target directory.
for dir in "${foreign[@]}"; do
  manifest="$dir/Cargo.toml"
  target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  name="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -1)"
  file="${name//-/_}.wasm"
  cargo build --release --target wasm32-wasip2 --manifest-path "$manifest"
  cp "$target/wasm32-wasip2/release/$file" "$out/$file.tmp"
  install_wasm "$file"
done

if [ ${#python[@]} -gt 0 ] || [ ${#js[@]} -gt 0 ]; then
  scripts/install-plugin-tools.sh
fi

# componentize-py: the module `app` of the plugin's folder (its class
# `WitWorld` implements the world), with its own interpreter inside.
for dir in "${python[@]}"; do
  name="$(basename "$dir")"
  file="${name//-/_}_py.wasm"
  up_to_date "$file" "$dir" && continue
  (cd "$dir" && "$root/.tools/venv/bin/componentize-py" --wit-path "$root/wit" --world transform \
    componentize --python-path . app --output "$out/$file.tmp") >/dev/null
  install_wasm "$file"
done

# componentize-js with every WASI feature but stdio disabled: the component
# imports the transform types and stdin, stdout and stderr only (no clocks,
# random or http). Its stderr carries an uncaught error's message and stack,
# which the host puts in the failure's reason.
for dir in "${js[@]}"; do
  name="$(basename "$dir")"
  file="${name//-/_}_js.wasm"
  up_to_date "$file" "$dir" && continue
  plugins/js/node_modules/.bin/componentize-js "$dir/index.js" --wit wit --world-name transform \
    --disable random clocks http fetch-event --out "$out/$file.tmp" >/dev/null
  install_wasm "$file"
done
