//! Issue 17, item 5: a column the table gains is typed from the catalog,
//! not from the first value read. A NULL there must not register the field
//! as a string: the integers that follow are delivered, and a restarted
//! producer registers the same type (no compatibility refusal).

mod common;

use std::time::Duration;

use common::Harness;
use common::logs::assert_exactly_once;
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread")]
async fn a_new_int_column_whose_first_value_is_null_carries_integers() {
    let mut harness = Harness::new("null_first", "");
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);
    harness.load_seed_and_wait();

    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("ALTER TABLE product ADD COLUMN stock INT NULL")
        .await
        .unwrap();
    conn.query_drop("UPDATE product SET price = price + 1 WHERE id = 1")
        .await
        .unwrap();
    harness.wait_for_lines(51, Duration::from_secs(60));
    for id in 2..=5 {
        conn.exec_drop("UPDATE product SET stock = ? WHERE id = ?", (id * 10, id))
            .await
            .unwrap();
    }
    harness.wait_for_lines(55, Duration::from_secs(60));

    harness.stop("producer", libc::SIGTERM);
    harness.spawn("producer", &["produce"]);
    for id in 6..=8 {
        conn.exec_drop("UPDATE product SET stock = ? WHERE id = ?", (id * 10, id))
            .await
            .unwrap();
    }
    drop(conn);
    let history = harness.history(&pool).await;
    assert_eq!(history.len(), 58);
    harness.wait_for_lines(58, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let lines = harness.log_lines();
    assert_exactly_once(&history, &lines);
    for line in &lines {
        let stock = line.record.get("stock").cloned();
        match line.id() {
            1 if stock.is_some() => {
                assert_eq!(stock, Some(serde_json::Value::Null), "product 1")
            }
            id @ 2..=8 if stock.as_ref().is_some_and(|s| !s.is_null()) => {
                assert_eq!(
                    stock,
                    Some(serde_json::Value::from(id * 10)),
                    "product {id}"
                )
            }
            _ => {}
        }
    }
    let with_stock = lines
        .iter()
        .filter(|line| line.record.get("stock").is_some_and(|s| s.is_i64()))
        .count();
    assert_eq!(with_stock, 7, "products 2 to 8 carry their integer stock");
    pool.disconnect().await.unwrap();
}

/// Issue 12: with the schema derived from the catalog, `ALTER TABLE` while
/// the producer runs gives a new schema version when the registry's rules
/// (BACKWARD) accept it (a widened column, a dropped column), and stops the
/// producer with exit code 2 and the reason when they do not (a NOT NULL
/// column added: old records have no value for it).
#[tokio::test(flavor = "multi_thread")]
async fn alter_table_while_running_registers_versions_or_stops_clearly() {
    let mut harness = Harness::new(
        "alter_derived",
        "[source]\ntable = \"gauge\"\ntimestamp_column = \"changed_at\"\n",
    );
    harness.reconfigure(|config| {
        config.source.value_schema_file = None;
        config.plugins.clear();
    });
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE gauge (k INT NOT NULL PRIMARY KEY, v INT NOT NULL, extra VARCHAR(8) NULL,
         changed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), KEY position (changed_at, k))",
    )
    .await
    .unwrap();
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);
    conn.query_drop("INSERT INTO gauge (k, v, extra) VALUES (1, 7, 'e')")
        .await
        .unwrap();
    harness.wait_for_lines(1, Duration::from_secs(60));

    conn.query_drop("ALTER TABLE gauge MODIFY v BIGINT NOT NULL")
        .await
        .unwrap();
    conn.query_drop("UPDATE gauge SET v = 1099511627776 WHERE k = 1")
        .await
        .unwrap();
    harness.wait_for_lines(2, Duration::from_secs(60));
    conn.query_drop("ALTER TABLE gauge DROP COLUMN extra")
        .await
        .unwrap();
    conn.query_drop("UPDATE gauge SET v = 3 WHERE k = 1")
        .await
        .unwrap();
    let lines = harness.wait_for_lines(3, Duration::from_secs(60));
    let values: Vec<_> = lines.iter().map(|line| line.record["v"].clone()).collect();
    assert!(
        values.contains(&serde_json::json!(1_099_511_627_776_i64)),
        "{values:?}"
    );
    let last = lines
        .iter()
        .find(|line| line.record["v"] == 3)
        .expect("the change after the drop");
    assert!(!last.record.contains_key("extra"), "{:?}", last.record);
    let versions = std::process::Command::new("curl")
        .args([
            "-s",
            &format!(
                "http://127.0.0.1:{}/subjects/{}-value/versions",
                harness.registry_port, harness.topic
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&versions.stdout), "[1,2,3]");

    harness.stop("producer", libc::SIGTERM);
    conn.query_drop("ALTER TABLE gauge ADD COLUMN required VARCHAR(8) NOT NULL DEFAULT 'x'")
        .await
        .unwrap();
    conn.query_drop("UPDATE gauge SET v = 4 WHERE k = 1")
        .await
        .unwrap();
    drop(conn);
    let mut producer = harness
        .command(&["produce"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = producer.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            producer.kill().unwrap();
            panic!("the producer kept running on an incompatible change");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(producer.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not compatible"), "{stderr}");
    assert!(
        stderr.contains("required"),
        "names the new schema: {stderr}"
    );
    pool.disconnect().await.unwrap();
}
