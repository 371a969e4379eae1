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
    just test-faults-group-protocol
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
# The tests are named exactly (`--exact`), one a line: a renamed test would
# drop out of a substring filter unseen, so host/tests/test_passes.rs fails
# when a name here matches no test of the files named by `--test`.
test-faults-non-utc: setup services plugins
    PIPELINE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3307 cargo test -p host --release --test faults --test consumer_faults -- --ignored --test-threads 1 --nocapture --exact \
        consumer_sigkill_loses_and_doubles_nothing \
        producer_sigkill_loses_and_doubles_nothing \
        rebalances_under_load_lose_and_double_nothing \
        a_long_transaction_is_not_skipped \
        rows_sharing_a_timestamp_across_pages_are_all_read \
        a_member_dropped_while_blocked_writes_nothing_twice \
        a_copy_in_the_same_batch_as_its_original_is_written_once

# The end-to-end test and the crash, restart and rebalance faults in binlog
# mode, against the private MariaDB on 127.0.0.1:3307 (row-based binlog):
# the writer also deletes, and the logs must hold MySQL's full history, each
# intermediate state and each delete once. `mysql_restart` crashes and
# restarts a MariaDB of its own on 127.0.0.1:3310 (data in run/mariadb-3310).
# Exact names, checked by host/tests/test_passes.rs as above.
test-faults-binlog: setup services plugins
    PIPELINE_TEST_SOURCE_MODE=binlog PIPELINE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3307 cargo test -p host --release --test pipeline_end_to_end --test faults --test consumer_faults -- --include-ignored --test-threads 1 --nocapture --exact \
        every_update_appears_exactly_once_across_five_members \
        producer_restart_resumes_from_the_saved_position \
        consumer_sigkill_loses_and_doubles_nothing \
        producer_sigkill_loses_and_doubles_nothing \
        rebalances_under_load_lose_and_double_nothing \
        mysql_restart_loses_nothing \
        a_member_dropped_while_blocked_writes_nothing_twice \
        a_copy_in_the_same_batch_as_its_original_is_written_once \
        a_corrupt_position_file_is_named_with_the_fix \
        a_new_nullable_column_becomes_a_new_schema_version

# The member and rebalance faults again with Kafka 4's consumer group
# protocol (KIP-848, `group.protocol = "consumer"`): the default run uses
# the classic protocol (cooperative-sticky); and `pipeline status` on such a
# group. Exact names, checked by host/tests/test_passes.rs as above.
test-faults-group-protocol: setup services plugins
    PIPELINE_TEST_GROUP_PROTOCOL=consumer cargo test -p host --release --test faults --test consumer_faults --test group_status -- --include-ignored --test-threads 1 --nocapture --exact \
        consumer_sigkill_loses_and_doubles_nothing \
        rebalances_under_load_lose_and_double_nothing \
        a_member_dropped_while_blocked_writes_nothing_twice \
        members_stop_within_the_bound_under_load \
        status_lists_each_member_with_its_partitions_and_the_group_protocol

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
