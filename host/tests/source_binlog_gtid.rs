//! Binlog mode's positions and keys (issue 12): GTID positions saved and
//! resumed by (surviving `FLUSH BINARY LOGS`, the purge of the saved file
//! and restarts), a clear start error for a position the server purged (by
//! GTID and by file), no saved position inside a transaction, and composite
//! keys (INT + VARCHAR) with tombstones.
//!
//! The purge and transaction tests run against a MariaDB of their own on
//! 127.0.0.1:3311 (data in `run/mariadb-3311`, started here when it is not
//! answering), since they purge binary logs and need a log no other test
//! writes to; the key test uses the private MariaDB on 3307.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::binlog::Tombstones;
use common::zones::{NON_UTC_SERVER, require_non_utc_server};
use common::{Harness, workspace_root};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use rdkafka::Message;
use serde_json::{Value, json};

const BINLOG: &str = "[source]\nmode = \"binlog\"\n";
const OWN_PORT: u16 = 3311;
const OWN_SERVER: &str = "mysql://root@127.0.0.1:3311";

/// The tests on the own server purge its logs or need it quiet: one at a time.
static OWN_SERVER_USE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn answering(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Starts the own MariaDB (binary log on, ROW, GTIDs as MariaDB always
/// logs them) unless it answers already; it keeps running after the tests.
fn own_server() {
    if answering(OWN_PORT) {
        return;
    }
    let run = workspace_root().join("run");
    let data = run.join(format!("mariadb-{OWN_PORT}"));
    std::fs::create_dir_all(&run).unwrap();
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    if !data.join("mysql").exists() {
        let status = std::process::Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("mariadb-install-db (the MariaDB server package) is needed");
        assert!(status.success(), "mariadb-install-db failed");
    }
    let log = std::fs::File::create(run.join(format!("mariadb-{OWN_PORT}.log"))).unwrap();
    let mut server = std::process::Command::new("/usr/sbin/mariadbd")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--user={user}"))
        .args(["--bind-address=127.0.0.1", &format!("--port={OWN_PORT}")])
        .arg(format!(
            "--socket={}",
            run.join(format!("mariadb-{OWN_PORT}.sock")).display()
        ))
        .arg(format!(
            "--pid-file={}",
            run.join(format!("mariadb-{OWN_PORT}.pid")).display()
        ))
        .arg(format!("--log-bin={}", data.join("binlog").display()))
        .args(["--binlog-format=ROW", &format!("--server-id={OWN_PORT}")])
        .arg("--innodb-buffer-pool-size=64M")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Reaped if it exits while the tests run; it outlives them otherwise.
    std::thread::spawn(move || server.wait());
    common::wait_until(Duration::from_secs(60), "the own MariaDB to listen", || {
        answering(OWN_PORT)
    });
}

fn saved(harness: &Harness) -> Value {
    let text = std::fs::read_to_string(harness.path("time_track/binlog_position.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A GTID position as a set of `domain-server-seq` (order aside).
fn gtid_set(text: &str) -> BTreeSet<String> {
    text.split(',')
        .map(|part| part.trim().to_owned())
        .filter(|part| !part.is_empty())
        .collect()
}

async fn server_gtid(conn: &mut Conn) -> BTreeSet<String> {
    let text: String = conn
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    gtid_set(&text)
}

async fn master_status(conn: &mut Conn) -> (String, u64) {
    conn.query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .map(|row: mysql_async::Row| (row.get(0).unwrap(), row.get(1).unwrap()))
        .unwrap()
}

async fn binary_logs(conn: &mut Conn) -> Vec<String> {
    let rows: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await.unwrap();
    rows.into_iter().map(|row| row.get(0).unwrap()).collect()
}

/// Purges every binary log but the one being written. The server skips a
/// log a replica connection still reads (a stopped producer's dump thread
/// lingers until its next heartbeat fails), so this retries until it went.
async fn purge_all_but_the_current_log(conn: &mut Conn) {
    let (current, _) = master_status(conn).await;
    for _ in 0..300 {
        conn.query_drop(format!("PURGE BINARY LOGS TO '{current}'"))
            .await
            .unwrap();
        if binary_logs(conn).await == [current.clone()] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the logs before {current} were not purged within 30 s");
}

/// Waits until the saved GTID position covers `last` (per domain, the
/// sequence number of the test's last change): every change so far
/// acknowledged and its position saved.
fn wait_for_saved_gtid(harness: &Harness, last: &BTreeMap<String, u64>) {
    common::wait_until(Duration::from_secs(30), "the saved GTID position", || {
        saved(harness)["gtid"].as_str().is_some_and(|gtid| {
            let saved = sequences(&gtid_set(gtid));
            last.iter()
                .all(|(domain, seq)| saved.get(domain).is_some_and(|at| at >= seq))
        })
    });
}

/// Per domain, the sequence number of a GTID position.
fn sequences(set: &BTreeSet<String>) -> BTreeMap<String, u64> {
    set.iter()
        .map(|gtid| {
            let mut parts = gtid.split('-');
            let domain = parts.next().unwrap().to_owned();
            (domain, parts.nth(1).unwrap().parse().unwrap())
        })
        .collect()
}

/// Per key, the (op, price) of its lines in log order.
fn changes_per_key(harness: &Harness) -> BTreeMap<i64, Vec<(String, f64)>> {
    let mut lines = harness.log_lines();
    lines.sort_by_key(|line| (line.partition, line.offset));
    let mut per_key: BTreeMap<i64, Vec<(String, f64)>> = BTreeMap::new();
    for line in lines {
        per_key.entry(line.id()).or_default().push((
            line.record["__op"].as_str().unwrap().to_owned(),
            line.record["price"].as_f64().unwrap(),
        ));
    }
    per_key
}

/// The changes a test made, per key (op, price), in commit order.
#[derive(Default)]
struct History {
    expected: BTreeMap<i64, Vec<(String, f64)>>,
    count: usize,
    /// Per domain, the sequence number of the last change's GTID.
    last: BTreeMap<String, u64>,
}

impl History {
    async fn change(&mut self, conn: &mut Conn, id: i64, price: f64, insert: bool) {
        if insert {
            conn.exec_drop(
                "INSERT INTO product (id, name, category, price) VALUES (?, 'n', 'cat_1', ?)",
                (id, price),
            )
            .await
            .unwrap();
        } else {
            conn.exec_drop("UPDATE product SET price = ? WHERE id = ?", (price, id))
                .await
                .unwrap();
        }
        let gtid: String = conn
            .query_first("SELECT @@SESSION.last_gtid")
            .await
            .unwrap()
            .unwrap();
        self.last.extend(sequences(&gtid_set(&gtid)));
        let op = if insert { "c" } else { "u" };
        self.expected
            .entry(id)
            .or_default()
            .push((op.into(), price));
        self.count += 1;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gtid_positions_survive_rotation_purge_of_their_file_and_restarts() {
    let _own = OWN_SERVER_USE.lock().await;
    own_server();
    let mut harness = Harness::on_server("gtid_resume", OWN_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    // A second replication domain: the position holds one GTID per domain.
    let mut other_domain = pool.get_conn().await.unwrap();
    other_domain
        .query_drop("SET SESSION gtid_domain_id = 7")
        .await
        .unwrap();
    common::binlog::start_pipeline(&mut harness);
    assert!(
        saved(&harness)["gtid"].is_string(),
        "the snapshot's position carries its GTID: {}",
        saved(&harness)
    );
    let mut history = History::default();
    for id in 1..=10 {
        history.change(&mut conn, id, id as f64, true).await;
    }
    for id in 1..=5 {
        history
            .change(&mut other_domain, id, 100.0 + id as f64, false)
            .await;
    }
    harness.wait_for_lines(history.count, Duration::from_secs(60));
    wait_for_saved_gtid(&harness, &history.last);
    let domains: BTreeSet<String> = gtid_set(saved(&harness)["gtid"].as_str().unwrap())
        .iter()
        .map(|gtid| gtid.split('-').next().unwrap().to_owned())
        .collect();
    assert_eq!(domains, BTreeSet::from(["0".to_owned(), "7".to_owned()]));

    // Stopped; the log rotates, gets changes, and the file the saved
    // position names is purged: by GTID the restart finds its place anyway.
    harness.stop("producer", libc::SIGKILL);
    let saved_file = saved(&harness)["binlog_file"].as_str().unwrap().to_owned();
    conn.query_drop("FLUSH BINARY LOGS").await.unwrap();
    for id in 6..=10 {
        history
            .change(&mut conn, id, 200.0 + id as f64, false)
            .await;
    }
    purge_all_but_the_current_log(&mut conn).await;
    assert!(!binary_logs(&mut conn).await.contains(&saved_file));
    harness.spawn("producer", &["produce"]);
    harness.wait_for_lines(history.count, Duration::from_secs(60));
    // A rotation while running, then a clean stop and a restart.
    for id in 1..=3 {
        history
            .change(&mut other_domain, id, 300.0 + id as f64, false)
            .await;
    }
    conn.query_drop("FLUSH BINARY LOGS").await.unwrap();
    for id in 4..=6 {
        history
            .change(&mut conn, id, 300.0 + id as f64, false)
            .await;
    }
    harness.wait_for_lines(history.count, Duration::from_secs(60));
    wait_for_saved_gtid(&harness, &history.last);
    harness.stop("producer", libc::SIGTERM);
    harness.spawn("producer", &["produce"]);
    for id in 7..=9 {
        history
            .change(&mut conn, id, 400.0 + id as f64, false)
            .await;
    }
    harness.wait_for_lines(history.count, Duration::from_secs(60));
    wait_for_saved_gtid(&harness, &history.last);
    std::thread::sleep(Duration::from_secs(2));
    let count = history.count;
    assert_eq!(harness.log_lines().len(), count, "each change once");
    assert_eq!(changes_per_key(&harness), history.expected);
    harness.stop("producer", libc::SIGTERM);

    // Changes after the saved position, then purged: the restart refuses,
    // naming the fix, by GTID ...
    for id in 1..=3 {
        conn.exec_drop("UPDATE product SET price = 999 WHERE id = ?", (id,))
            .await
            .unwrap();
    }
    conn.query_drop("FLUSH BINARY LOGS").await.unwrap();
    purge_all_but_the_current_log(&mut conn).await;
    let position = harness.path("time_track/binlog_position.json");
    let (code, output) = harness.output(&["produce"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("cannot send the binary log from the saved GTID position")
            && output.contains(&format!("Fix: delete {}", position.display())),
        "{output}"
    );
    // ... and by file.
    harness.reconfigure(|config| {
        config.source.binlog_position = pipeline::config::BinlogResume::File;
    });
    let (code, output) = harness.output(&["produce"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("no longer has")
            && output.contains(&format!("delete {}", position.display())),
        "{output}"
    );
    // The fix named: a new snapshot, every row once more as op "r".
    std::fs::remove_file(&position).unwrap();
    harness.spawn("producer", &["produce"]);
    harness.wait_for_lines(count + 10, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let lines = harness.log_lines();
    assert_eq!(lines.len(), count + 10);
    let snapshot: BTreeMap<i64, f64> = lines
        .iter()
        .filter(|line| line.record["__op"] == "r")
        .map(|line| (line.id(), line.record["price"].as_f64().unwrap()))
        .collect();
    assert_eq!(snapshot.len(), 10);
    assert_eq!(snapshot[&1], 999.0);
    drop((conn, other_domain));
    pool.disconnect().await.unwrap();
}

/// No saved position ever falls inside a transaction: while a 50,000-row
/// transaction's rows are acknowledged and logged, the saved position (file,
/// offset and GTID) stays exactly at its start; killed there, the restart
/// sends the rest and every row is logged once.
#[tokio::test(flavor = "multi_thread")]
async fn no_saved_position_falls_inside_a_transaction() {
    let _own = OWN_SERVER_USE.lock().await;
    own_server();
    let rows = 50_000;
    let mut harness = Harness::on_server("gtid_split", OWN_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    common::binlog::start_pipeline(&mut harness);
    // Nothing else writes to this server: its end is the saved position.
    let (file, offset) = master_status(&mut conn).await;
    let gtid = server_gtid(&mut conn).await;
    common::wait_until(Duration::from_secs(30), "the start's position", || {
        let saved = saved(&harness);
        saved["binlog_file"] == file.as_str() && saved["binlog_offset"] == offset
    });
    assert_eq!(gtid_set(saved(&harness)["gtid"].as_str().unwrap()), gtid);
    conn.query_drop(format!(
        "INSERT INTO product (id, name, category, price)
         SELECT seq, 'bulk', 'cat_1', seq FROM seq_1_to_{rows}"
    ))
    .await
    .unwrap();
    let (end_file, end_offset) = master_status(&mut conn).await;
    let at_start = |saved: &Value| {
        saved["binlog_file"] == file.as_str()
            && saved["binlog_offset"] == offset
            && gtid_set(saved["gtid"].as_str().unwrap()) == gtid
    };
    let at_end = |saved: &Value| {
        saved["binlog_file"] == end_file.as_str() && saved["binlog_offset"] == end_offset
    };
    // Rows of the transaction acknowledged and logged, its position not
    // saved: it is the start's until it is the end's, never between.
    let mut seen_mid_transaction = false;
    loop {
        let logged = harness.log_lines().len();
        let now = saved(&harness);
        assert!(
            at_start(&now) || at_end(&now),
            "a position inside the transaction: {now}"
        );
        if at_end(&now) {
            break;
        }
        seen_mid_transaction |= logged > 0;
        if logged >= 6000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        seen_mid_transaction,
        "rows were logged while the position was the transaction's start"
    );
    harness.stop("producer", libc::SIGKILL);
    let killed = saved(&harness);
    assert!(at_start(&killed) || at_end(&killed), "{killed}");
    harness.spawn("producer", &["produce"]);
    harness.wait_for_lines(rows, Duration::from_secs(300));
    common::wait_until(
        Duration::from_secs(30),
        "the transaction's end saved",
        || at_end(&saved(&harness)),
    );
    std::thread::sleep(Duration::from_secs(2));
    let lines = harness.log_lines();
    assert_eq!(lines.len(), rows, "each row once");
    let ids: BTreeSet<i64> = lines.iter().map(common::logs::Line::id).collect();
    assert_eq!(ids.len(), rows);
    drop(conn);
    pool.disconnect().await.unwrap();
}

const PARCEL: &str = "CREATE TABLE parcel (
    region VARCHAR(8) NOT NULL,
    seq INT NOT NULL,
    amount INT NOT NULL,
    note VARCHAR(16) NULL,
    PRIMARY KEY (region, seq)
) ENGINE=InnoDB";

/// Every log line as JSON (with its `source`), in partition order.
fn raw_lines(dir: &Path) -> Vec<Value> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text =
            std::fs::read_to_string(entry.path().join("consumer_log.json")).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok()),
        );
    }
    lines.sort_by_key(|line| (line["partition"].as_i64(), line["offset"].as_i64()));
    lines
}

/// Per (region, seq) key, its (op, amount) changes in order.
type Changes = BTreeMap<(String, i64), Vec<(String, i64)>>;

fn push(changes: &mut Changes, region: &str, seq: i64, op: &str, amount: i64) {
    changes
        .entry((region.into(), seq))
        .or_default()
        .push((op.into(), amount));
}

#[tokio::test(flavor = "multi_thread")]
async fn composite_keys_arrive_once_with_their_keys_and_tombstones() {
    require_non_utc_server();
    let mut harness = Harness::on_server(
        "binlog_composite",
        NON_UTC_SERVER,
        "[source]\nmode = \"binlog\"\ntable = \"parcel\"\nbatch_size = 2\n",
    );
    harness.reconfigure(|config| {
        config.source.value_schema_file = None;
        config.plugins.clear();
    });
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(PARCEL).await.unwrap();
    // The snapshot pages through these two at a time, across regions.
    conn.query_drop(
        "INSERT INTO parcel (region, seq, amount) VALUES
         ('eu', 1, 1), ('eu', 2, 2), ('eu', 3, 3), ('us', 1, 4), ('us', 2, 5)",
    )
    .await
    .unwrap();
    let mut expected = Changes::new();
    for (region, seq, amount) in [
        ("eu", 1, 1),
        ("eu", 2, 2),
        ("eu", 3, 3),
        ("us", 1, 4),
        ("us", 2, 5),
    ] {
        push(&mut expected, region, seq, "r", amount);
    }
    common::binlog::start_pipeline(&mut harness);
    harness.wait_for_lines(5, Duration::from_secs(60));
    conn.query_drop(
        "INSERT INTO parcel (region, seq, amount) VALUES ('eu', 10, 10), ('ap', 1, 11)",
    )
    .await
    .unwrap();
    push(&mut expected, "eu", 10, "c", 10);
    push(&mut expected, "ap", 1, "c", 11);
    conn.query_drop("UPDATE parcel SET amount = amount + 100 WHERE region = 'eu'")
        .await
        .unwrap();
    for (seq, amount) in [(1, 101), (2, 102), (3, 103), (10, 110)] {
        push(&mut expected, "eu", seq, "u", amount);
    }
    conn.query_drop("DELETE FROM parcel WHERE region = 'us' AND seq = 1")
        .await
        .unwrap();
    push(&mut expected, "us", 1, "d", 4);
    // A key change: the old key deleted (and tombstoned), the new created.
    conn.query_drop("UPDATE parcel SET seq = 99 WHERE region = 'eu' AND seq = 10")
        .await
        .unwrap();
    push(&mut expected, "eu", 10, "d", 110);
    push(&mut expected, "eu", 99, "c", 110);
    let mut count = expected.values().map(Vec::len).sum::<usize>();
    harness.wait_for_lines(count, Duration::from_secs(60));
    // Killed right after: whatever is re-sent is dropped by its composite key.
    harness.stop("producer", libc::SIGKILL);
    harness.spawn("producer", &["produce"]);
    conn.query_drop("UPDATE parcel SET amount = 7, note = 'x' WHERE region = 'ap' AND seq = 1")
        .await
        .unwrap();
    conn.query_drop("DELETE FROM parcel WHERE region = 'eu' AND seq < 3")
        .await
        .unwrap();
    push(&mut expected, "ap", 1, "u", 7);
    push(&mut expected, "eu", 1, "d", 101);
    push(&mut expected, "eu", 2, "d", 102);
    count += 3;
    harness.wait_for_lines(count, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));

    let lines = raw_lines(&harness.path("consumer_logs"));
    assert_eq!(lines.len(), count, "each change once: {lines:#?}");
    let mut seen = Changes::new();
    for line in &lines {
        let record = &line["record"];
        let key = (
            record["region"].as_str().unwrap().to_owned(),
            record["seq"].as_i64().unwrap(),
        );
        assert_eq!(line["source"]["key"], json!([key.0, key.1]), "{line}");
        seen.entry(key).or_default().push((
            record["__op"].as_str().unwrap().to_owned(),
            record["amount"].as_i64().unwrap(),
        ));
    }
    assert_eq!(seen, expected);
    let ap = lines
        .iter()
        .find(|line| line["record"]["region"] == "ap" && line["record"]["__op"] == "u")
        .unwrap();
    assert_eq!(ap["record"]["note"], "x");

    // Each delete is followed, in its partition, by a tombstone for its key.
    let tombstones = Tombstones::new(&harness);
    let deletes: Vec<&Value> = lines
        .iter()
        .filter(|line| line["record"]["__op"] == "d")
        .collect();
    assert_eq!(deletes.len(), 4);
    for line in deletes {
        let message = tombstones.after(
            &harness.topic,
            line["partition"].as_i64().unwrap() as i32,
            line["offset"].as_i64().unwrap(),
        );
        let key: Value = serde_json::from_slice(message.key().unwrap()).unwrap();
        assert_eq!(key, line["source"]["key"]);
    }
    drop(conn);
    pool.disconnect().await.unwrap();
}
