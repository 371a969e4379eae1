# Sourced by scripts/up and scripts/test: makes `cargo` and `just` available
# on a fresh machine, so the README's commands work as its first lines.
# Everything else (Debian packages, the wasm target, nisshi) is the `setup`
# recipe's job (scripts/install.sh), which the just recipes run first.

export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v cargo >/dev/null; then
  if ! command -v curl >/dev/null; then
    echo "error: Rust is not installed and curl is missing to install it; install Rust from https://rustup.rs and run this again" >&2
    exit 1
  fi
  echo "bootstrap: Rust (rustup, minimal profile)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi

if ! command -v just >/dev/null; then
  echo "bootstrap: just (cargo install just --locked, about a minute)"
  cargo install just --locked
fi
