//! Issue 5's fault suite: real services, the pipeline as separate processes,
//! one fault injected per test while updates stream; the logs are then
//! checked against MySQL's full change history: zero lost, zero doubled.
//!
//! Run with `just test-faults` (they are `#[ignore]`d in the plain `cargo
//! test` run so that `just test` does not run them twice). Every test runs
//! against `$PIPELINE_TEST_MYSQL_URL` when it is set: `just
//! test-faults-non-utc` runs the crash and restart faults against the
//! private MariaDB at -05:00. With `PIPELINE_TEST_SOURCE_MODE=binlog` they
//! run in binlog mode (`just test-faults-binlog`), where the writer also
//! deletes, and the check is the full history: every intermediate state and
//! every delete, each once. `$PIPELINE_TEST_BROKER` (`host:port`) points
//! them at another broker (`just test-faults-on 127.0.0.1:19130`): the
//! broker-restart test then restarts that broker, and only it.

mod common;

use std::time::Duration;

use common::Harness;
use mysql_async::prelude::Queryable;

async fn started(name: &str, members: u32, extra_config: &str) -> (Harness, mysql_async::Pool) {
    let mut harness = Harness::new(name, extra_config);
    let pool = start(&mut harness, members).await;
    (harness, pool)
}

async fn start(harness: &mut Harness, members: u32) -> mysql_async::Pool {
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(members);
    harness.wait_for_stable_group(members, 10 / members as usize);
    harness.spawn("producer", &["produce"]);
    // The seed inserts are read before anything updates them (an immediate
    // update would coalesce with its insert: polling delivers latest state).
    harness.load_seed_and_wait();
    pool
}

/// Skips a test that checks something only timestamp mode has, with the
/// reason, when the suite runs in binlog mode.
fn timestamp_mode_only(reason: &str) -> bool {
    if common::binlog_mode() {
        eprintln!("skipped in binlog mode: {reason}");
        return false;
    }
    true
}

/// Members killed with SIGKILL mid-stream, one restarted and one not: every
/// change is in the logs exactly once.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn consumer_sigkill_loses_and_doubles_nothing() {
    let (mut harness, pool) = started("kill_consumer", 5, "").await;
    harness.spawn_round_robin("updater", 600, 50, 1);
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        harness.stop("consumer_3", libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(500));
        harness.spawn("consumer_3", &["consume", "--member", "3"]);
        if round == 1 {
            harness.stop("consumer_5", libc::SIGKILL); // not restarted: its partitions move
        }
    }
    harness.wait_for_child_exit("updater", Duration::from_secs(60));
    harness
        .check_exactly_once(&pool, 650, Duration::from_secs(120))
        .await;
}

/// The producer killed with SIGKILL (between produce and checkpoint, at
/// random points) and restarted: re-sent records are recognised downstream.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn producer_sigkill_loses_and_doubles_nothing() {
    let (mut harness, pool) = started("kill_producer", 5, "").await;
    harness.spawn_round_robin("updater", 600, 50, 2);
    let position_file = harness.position_file();
    let saved = || std::fs::read_to_string(&position_file).unwrap_or_default();
    for round in 0..4 {
        // Each instance is killed mid-stream, after it has saved a position
        // of its own (so records past that checkpoint are in flight). Killing
        // instances that had not started reading yet would leave nobody
        // polling for seconds, and two changes of one product made while
        // nobody polls coalesce (a limit of polling, not a loss).
        let before = saved();
        std::thread::sleep(Duration::from_millis(1200));
        common::wait_until(
            Duration::from_secs(30),
            "the producer to save a new position",
            || saved() != before,
        );
        harness.stop(
            if round == 0 {
                "producer"
            } else {
                "producer_again"
            },
            libc::SIGKILL,
        );
        harness.spawn("producer_again", &["produce"]);
    }
    harness.wait_for_child_exit("updater", Duration::from_secs(60));
    harness
        .check_exactly_once(&pool, 650, Duration::from_secs(120))
        .await;
}

/// Members joining and leaving under load (cooperative-sticky rebalances).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn rebalances_under_load_lose_and_double_nothing() {
    let (mut harness, pool) = started("rebalance", 2, "").await;
    harness.spawn_round_robin("updater", 600, 50, 3);
    for member in 3..=5 {
        std::thread::sleep(Duration::from_millis(1000));
        harness.spawn(
            &format!("consumer_{member}"),
            &["consume", "--member", &member.to_string()],
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    harness.stop("consumer_1", libc::SIGTERM);
    harness.wait_for_child_exit("updater", Duration::from_secs(60));
    harness
        .check_exactly_once(&pool, 650, Duration::from_secs(120))
        .await;
}

/// A transaction held open for 35 s commits a row stamped before rows that
/// were read meanwhile: the producer waits for it instead of skipping it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn a_long_transaction_is_not_skipped() {
    if !timestamp_mode_only(
        "the poller's bound behind open transactions; the binlog holds only committed ones",
    ) {
        return;
    }
    let (harness, pool) = started("long_trx", 5, "").await;
    let mut held = pool.get_conn().await.unwrap();
    held.query_drop("START TRANSACTION").await.unwrap();
    held.query_drop("UPDATE product SET price = 1234.56, last_updated = NOW(6) WHERE id = 50")
        .await
        .unwrap();
    // Meanwhile the other products change once each. The bound stays behind
    // the open transaction, so a second change of one of them before the
    // commit would coalesce with the first (by design: see the README).
    harness.update_round_robin(49, 49, 1);
    std::thread::sleep(Duration::from_secs(30));
    let before_commit = harness.log_lines();
    assert!(
        before_commit
            .iter()
            .all(|line| line.id() != 50 || line.record["price"] != 1234.56),
        "the uncommitted change cannot be in the logs"
    );
    held.query_drop("COMMIT").await.unwrap();
    drop(held);
    // Everything held back arrives now; a new change of one of those rows
    // before that would coalesce with it.
    harness.wait_for_lines(50 + 49 + 1, Duration::from_secs(30));
    harness.update_round_robin(98, 49, 9);
    harness
        .check_exactly_once(&pool, 50 + 49 + 1 + 98, Duration::from_secs(120))
        .await;
}

/// Many rows sharing one `last_updated`, read in pages smaller than the
/// group: the (last_updated, id) tie-break loses none.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn rows_sharing_a_timestamp_across_pages_are_all_read() {
    if !timestamp_mode_only("paging by (stamp, key) is the poller's; the binlog has no stamp order")
    {
        return;
    }
    let (harness, pool) = started("same_stamp", 5, "").await;
    let harness = {
        let mut harness = harness;
        // Small pages: a 50-row group with one stamp spans seven of them.
        harness.reconfigure(|config| config.source.batch_size = 7);
        harness.stop("producer", libc::SIGTERM);
        harness.spawn("producer", &["produce"]);
        harness
    };
    let mut conn = pool.get_conn().await.unwrap();
    // The stamping triggers give each row the time of its own write, so
    // 50 rows of one statement rarely share a stamp; without them (a table
    // stamped by its application, or a restore) one statement can set one
    // stamp on all. The running producer does not look at triggers again.
    // Only once the restarted producer has checked the triggers (it logs
    // "producer starting" after that, once per start), or it would put the
    // trigger back.
    let producer_log = harness.path("logs/producer.log");
    common::wait_until(
        Duration::from_secs(60),
        "the restarted producer to start",
        || {
            std::fs::read_to_string(&producer_log)
                .unwrap_or_default()
                .matches("producer starting")
                .count()
                >= 2
        },
    );
    conn.query_drop("DROP TRIGGER IF EXISTS product_stamp_update_v3")
        .await
        .unwrap();
    for round in 1..=5 {
        // One statement setting one stamp on all 50 rows.
        conn.query_drop(
            "UPDATE product SET price = price + 1, last_updated = NOW(6) + INTERVAL 200000 MICROSECOND",
        )
        .await
        .unwrap();
        // Read before the next round changes the same rows (or they coalesce).
        harness.wait_for_lines(50 + 50 * round, Duration::from_secs(30));
    }
    drop(conn);
    let history = harness.history(&pool).await;
    let stamps: std::collections::BTreeSet<_> =
        history.iter().skip(50).map(|c| c.last_updated).collect();
    assert!(
        stamps.len() <= 5,
        "each bulk update shares one stamp: {} stamps",
        stamps.len()
    );
    harness
        .check_exactly_once(&pool, 300, Duration::from_secs(120))
        .await;
}

/// A column added to the table: a new schema version is registered, and
/// the members decode records of both versions.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn a_new_nullable_column_becomes_a_new_schema_version() {
    let (harness, pool) = started("schema_change", 5, "").await;
    harness.update_round_robin(100, 50, 1);
    harness.wait_for_lines(150, Duration::from_secs(60));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("ALTER TABLE product ADD COLUMN colour VARCHAR(16) NULL")
        .await
        .unwrap();
    conn.query_drop("UPDATE product SET colour = 'red', last_updated = NOW(6) WHERE id <= 10")
        .await
        .unwrap();
    drop(conn);
    // The next round starts at product 1: let the colour change be read
    // first, or the two would coalesce.
    std::thread::sleep(Duration::from_secs(3));
    harness.update_round_robin(100, 50, 5);
    harness
        .check_exactly_once(&pool, 260, Duration::from_secs(120))
        .await;
    let lines = harness.log_lines();
    let red = lines
        .iter()
        .filter(|l| l.record.get("colour").and_then(|c| c.as_str()) == Some("red"))
        .count();
    assert!(
        red >= 10,
        "the new column reaches the logs ({red} red lines)"
    );
    let versions = reqwest::get(format!(
        "http://127.0.0.1:{}/subjects/{}-value/versions",
        harness.registry_port, harness.topic
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(versions, "[1,2]");
}

/// Bytes that are not the wire format, and an unknown schema id: each goes
/// to the dead letters with its reason; the members keep going.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn undecodable_records_go_to_the_dead_letters() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let (harness, pool) = started("bad_bytes", 5, "").await;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .create()
        .unwrap();
    for (key, payload) in [
        ("1", b"not avro at all".to_vec()),
        ("2", vec![0, 0, 0, 0x7f, 0x7f, 1, 2, 3]),
    ] {
        producer
            .send(
                FutureRecord::to(&harness.topic).key(key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    harness.update_round_robin(100, 50, 1);
    harness
        .check_exactly_once(&pool, 150, Duration::from_secs(120))
        .await;
    let dead: Vec<String> = std::fs::read_dir(harness.path("dead_letters"))
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("dead_letters.json")).ok())
        .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|l| l.contains("not the Confluent wire format")),
        "{dead:?}"
    );
    assert!(
        dead.iter().any(|l| l.contains("schema id 32639")),
        "{dead:?}"
    );
}

/// A corrupted position file stops the producer with a message naming the
/// file and the fix, and exit code 2 (bad input: `up` does not restart it).
#[test]
#[ignore = "fault test: run with `just test-faults`"]
fn a_corrupt_position_file_is_named_with_the_fix() {
    let harness = Harness::new("corrupt_position", "");
    let position = harness.position_file();
    std::fs::create_dir_all(position.parent().unwrap()).unwrap();
    std::fs::write(&position, "{\"last_read_timestamp\": \"yesterday\"}").unwrap();
    let output = harness.command(&["produce"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let (file, fix) = if harness.is_binlog() {
        ("binlog_position.json", "delete the file")
    } else {
        ("last_read_timestamp.json", "null")
    };
    assert!(stderr.contains(file) && stderr.contains(fix), "{stderr}");
}

/// A malformed configuration names the key and what it accepts.
#[test]
#[ignore = "fault test: run with `just test-faults`"]
fn a_malformed_config_names_the_key() {
    let harness = Harness::new("bad_config", "");
    let config = std::fs::read_to_string(&harness.config_path).unwrap();
    assert!(config.contains("partitions = 10"));
    std::fs::write(
        &harness.config_path,
        config.replace("partitions = 10", "partitons = 10"),
    )
    .unwrap();
    let output = harness.command(&["produce"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("partitons") && stderr.contains("pipeline.toml"),
        "{stderr}"
    );
}

/// Restarts the tests' broker (`$PIPELINE_TEST_BROKER`, by default the
/// shared nisshi on 127.0.0.1:9092, whichever checkout started it) in the
/// middle of a stream: only the process listening on its port, started
/// again with its own command line, environment and working directory, so
/// it reopens the same storage (`common::broker`).
fn restart_broker() {
    let port = common::broker::broker_port();
    let pid = common::broker::restart_broker_on(port);
    eprintln!("restarted the broker on port {port}: now pid {pid}");
}

/// The broker goes away and comes back: producer and members wait, retry
/// and resume without loss or duplicates.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn broker_restart_loses_and_doubles_nothing() {
    let (mut harness, pool) = started("broker_restart", 5, "").await;
    harness.spawn_round_robin("updater", 500, 50, 4);
    std::thread::sleep(Duration::from_secs(2));
    restart_broker();
    harness.wait_for_child_exit("updater", Duration::from_secs(60));
    harness
        .check_exactly_once(&pool, 550, Duration::from_secs(120))
        .await;
}

/// MySQL goes away and comes back: the producer waits with backoff, says
/// what it is waiting for, and resumes without loss.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn mysql_restart_loses_nothing() {
    if common::binlog_mode() {
        return server_restart_in_binlog_mode().await;
    }
    if common::mysql_server() != common::MYSQL_SERVER {
        // It restarts the shared MariaDB through scripts/services.sh.
        eprintln!("skipped: restarts only the MariaDB on 127.0.0.1:3306");
        return;
    }
    let (harness, pool) = started("mysql_restart", 5, "").await;
    harness.update_round_robin(100, 50, 1);
    pool.disconnect().await.unwrap();
    let stop = std::process::Command::new("start-stop-daemon")
        .args(["--stop", "--retry", "30", "--exec", "/usr/sbin/mariadbd"])
        .status()
        .unwrap();
    assert!(stop.success(), "stopping MariaDB");
    std::thread::sleep(Duration::from_secs(3));
    let start = std::process::Command::new("bash")
        .arg(common::workspace_root().join("scripts/services.sh"))
        .status()
        .unwrap();
    assert!(start.success(), "starting MariaDB");
    // Let the producer's backoff (up to 5 s) find MySQL again before the next
    // changes: two changes of one product made while nobody polls coalesce
    // into its latest state (a limit of polling, not a loss), and the check
    // below counts every change.
    common::wait_until(
        Duration::from_secs(60),
        "the producer to reconnect to MySQL",
        || {
            std::fs::read_to_string(harness.path("logs/producer.log"))
                .is_ok_and(|log| log.contains("available again"))
        },
    );
    harness.update_round_robin(100, 50, 7);
    let pool = harness.pool().await;
    harness
        .check_exactly_once(&pool, 250, Duration::from_secs(120))
        .await;
    let producer_log = std::fs::read_to_string(harness.path("logs/producer.log")).unwrap();
    assert!(
        producer_log.contains("resuming from the saved position")
            || producer_log.contains("waiting for MySQL"),
        "the producer said what it waited for"
    );
}

/// Binlog mode: a MariaDB of the test's own (`common::private_server`, port
/// 3310, data in `run/mariadb-3310`), crashed with SIGKILL and then stopped
/// cleanly while the updater writes, each time started again with writes
/// resuming at once. The producer reconnects by itself and resumes from its
/// saved position; the logs hold the server's full history once.
async fn server_restart_in_binlog_mode() {
    let Some(mut server) = common::private_server::PrivateServer::start(RESTART_PORT) else {
        return;
    };
    let mut harness = Harness::binlog_on_server("server_restart", &server.url(), "");
    start(&mut harness, 5).await;
    for (round, signal) in [libc::SIGKILL, libc::SIGTERM].into_iter().enumerate() {
        let updater = format!("updater_{round}");
        // More than it can write before the server goes: it fails then.
        harness.spawn_round_robin(&updater, 100_000, 50, round as u32 + 1);
        std::thread::sleep(Duration::from_secs(3));
        server.stop(signal);
        harness.stop_within(&updater, libc::SIGTERM, Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(2));
        server.start_again();
    }
    // Writes go on at once, while the producer is still backing off.
    harness.update_round_robin(100, 50, 9);
    let pool = harness.pool().await;
    let history = harness.history(&pool).await;
    assert!(
        history.len() > 250,
        "the writers made {} changes",
        history.len()
    );
    harness.wait_for_lines(history.len(), Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(3));
    common::logs::assert_exactly_once(&history, &harness.log_lines());
    let producer_log = std::fs::read_to_string(harness.path("logs/producer.log")).unwrap();
    assert!(
        producer_log.contains("resuming from the saved position")
            || producer_log.contains("waiting for MySQL"),
        "the producer said what it waited for"
    );
    pool.disconnect().await.unwrap();
}

/// The private server's port for the server-restart test.
const RESTART_PORT: u16 = 3310;
