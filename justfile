# The pipeline's commands. `just up` runs it, `just test` tests it.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the whole pipeline (starts MariaDB and the broker if they are not running).
up *ARGS: setup services plugins
    cargo run --release -p host -- up {{ARGS}}

# The whole test suite, against real MariaDB, nisshi and the project's registry.
test: setup services plugins
    cargo test -p host --no-fail-fast -- --test-threads 2
    just test-faults

# Fault tests: crashes, restarts and bad input, with real processes.
test-faults: setup services plugins
    cargo test -p host --release --test faults --test consumer_faults -- --ignored --test-threads 1 --nocapture

# Benchmarks: Criterion micro-benchmarks and the end-to-end driver.
bench: setup services plugins
    cargo bench -p host
    cargo run --release -p host -- bench
    python3 scripts/bench-table.py

# Install what is missing (wasm target, just, nisshi, Debian packages).
setup:
    scripts/install.sh

# Start MariaDB and the nisshi broker if they are not running.
services:
    scripts/services.sh

# Build the transform plugins to plugins/wasm/*.wasm.
plugins:
    scripts/build-plugins.sh

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy -p host --all-targets -- -D warnings

# Stop the broker that `just services` started.
stop-services:
    -kill $(cat run/nisshi.pid) 2>/dev/null
