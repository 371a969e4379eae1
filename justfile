# The pipeline's commands. `just up` runs it, `just test` tests it
# (`scripts/up` and `scripts/test` do the same on a machine without just).
#
# The broker is Apache Kafka (KRaft, jars from Maven Central, installed by
# `setup`) where Java 17 is installed, else nisshi, which `setup` then builds
# in the background; the recipes build the project first and start the
# services (which wait for that build) only when they need them.
# PIPELINE_BROKER=nisshi or =kafka chooses.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the whole pipeline (starts MariaDB and the broker if they are not running).
up *ARGS: setup plugins
    cargo build --release -p host
    scripts/services.sh
    cargo run --release -p host -- up {{ARGS}}

# The whole test suite, against real MariaDB, Apache Kafka (or the broker on
# 127.0.0.1:9092) and the project's registry; then the fault suites, the
# three-broker cluster faults.
test: setup plugins
    cargo test -p host -p bench --no-run
    cargo test -p host --release --test faults --test consumer_faults --test pipeline_end_to_end --test kafka_cluster --no-run
    scripts/services.sh
    cargo test -p host -p bench --no-fail-fast -- --test-threads 2
    just test-faults
    just test-faults-non-utc
    just test-faults-binlog
    just test-kafka-cluster

# Fault tests: crashes, restarts and bad input, with real processes; and a
# Python plugin hot-swapped into a running pipeline (slow in a debug build).
test-faults: setup services plugins
    cargo test -p host --release --test faults --test consumer_faults --test plugin_swap_python -- --ignored --test-threads 1 --nocapture

# The fault suite against another broker (host:port), e.g. a nisshi on
# another storage engine started by hand (README "Broker engines"); its
# broker-restart test restarts that broker only (the process listening on
# that port, with its own command line). ARGS go to the test binaries:
# `just test-faults-on 127.0.0.1:19130 --skip mysql_restart`.
test-faults-on BROKER *ARGS: setup plugins
    PIPELINE_TEST_BROKER={{BROKER}} cargo test -p host --release --test faults --test consumer_faults --test plugin_swap_python -- --ignored --test-threads 1 --nocapture {{ARGS}}

# The crash, restart and rebalance faults again, against the private MariaDB
# at -05:00 (scripts/services.sh starts it on 127.0.0.1:3307).
test-faults-non-utc: setup services plugins
    PIPELINE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3307 cargo test -p host --release --test faults --test consumer_faults -- --ignored --test-threads 1 --nocapture sigkill rebalances long_transaction sharing_a_timestamp blocked same_batch

# The end-to-end test and the crash, restart and rebalance faults in binlog
# mode, against the private MariaDB on 127.0.0.1:3307 (row-based binlog):
# the writer also deletes, and the logs must hold MySQL's full history, each
# intermediate state and each delete once. `mysql_restart` crashes and
# restarts a MariaDB of its own on 127.0.0.1:3310 (data in run/mariadb-3310).
test-faults-binlog: setup services plugins
    PIPELINE_TEST_SOURCE_MODE=binlog PIPELINE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3307 cargo test -p host --release --test pipeline_end_to_end --test faults --test consumer_faults -- --include-ignored --test-threads 1 --nocapture every_update producer_restart sigkill rebalances mysql_restart blocked same_batch corrupt_position new_nullable_column

# Replication faults on a three-broker Kafka cluster of the tests' own
# (KRaft, loopback ports, data in run/kafka-cluster-*): leader and
# controller kills, a rolling restart, a broker unreachable past
# `message.timeout.ms`, the group coordinator moved during a rebalance.
test-kafka-cluster: setup services plugins
    cargo test -p host --release --test kafka_cluster -- --ignored --test-threads 1 --nocapture

# Benchmarks (the `bench` crate): Criterion micro-benchmarks of the library,
# then the end-to-end driver, which runs the release `pipeline` binary.
bench: setup services plugins
    cargo bench -p bench
    cargo build --release -p host
    cargo run --release -p bench
    cargo run --release -p bench -- readme

# The pipeline's producer side by side with Debezium (its MariaDB connector on
# Kafka Connect standalone, pinned jars that bench/debezium/install.sh fetches
# from Maven Central into ~/.cache/pipeline), on a MariaDB of the bench's own
# and the same broker: snapshot, catch-up, latency, CPU, memory, correctness.
# Too long for `just bench` (about 15 minutes at the default 1,000,000 rows on
# two cores); writes the report's peers.debezium, then prints the README table.
bench-peers ROWS="1000000": setup services
    cargo build --release -p host -p bench
    cargo run --release -p bench -- --peers-only --rows {{ROWS}}
    cargo run --release -p bench -- readme

# Install what is missing (Debian packages with MariaDB, wasm target, just,
# Apache Kafka's jars or nisshi).
setup:
    scripts/install.sh

# Start MariaDB and the broker (Apache Kafka, or nisshi) if they are not running.
services:
    scripts/services.sh

# Build the transform plugins to plugins/wasm/*.wasm.
plugins:
    scripts/build-plugins.sh

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy -p host -p bench --all-targets -- -D warnings

# Stop the broker that `just services` started (Kafka shuts down cleanly on SIGTERM).
stop-services:
    -kill $(cat run/kafka.pid) 2>/dev/null
    -kill $(cat run/nisshi.pid) 2>/dev/null
