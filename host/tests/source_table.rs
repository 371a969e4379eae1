//! Issue 17, items 4 and 13, against real MariaDB: a table that cannot be
//! tailed exactly is refused at start with the fix, and a start never
//! freezes the table behind an open transaction.

mod common;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use pipeline::source::mysql::connect;
use pipeline::updater::ensure_seed_table;

async fn fresh_database(test: &str) -> Pool {
    let database = format!("pt_table_{test}_{}", std::process::id());
    let server = Pool::new(common::MYSQL_SERVER);
    let mut conn = server.get_conn().await.unwrap();
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{database}`"))
        .await
        .unwrap();
    drop(conn);
    server.disconnect().await.unwrap();
    connect(&format!("{}/{database}", common::MYSQL_SERVER))
        .await
        .unwrap()
}

async fn drop_database(pool: Pool) {
    let mut conn = pool.get_conn().await.unwrap();
    let database = database_of(&mut conn).await;
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{database}`"))
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

async fn database_of(conn: &mut Conn) -> String {
    conn.query_first("SELECT DATABASE()")
        .await
        .unwrap()
        .unwrap()
}

async fn trigger_names(conn: &mut Conn) -> Vec<String> {
    conn.query(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
         WHERE EVENT_OBJECT_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME",
    )
    .await
    .unwrap()
}

/// Updates row 1 `times` times from a session that gives up on a lock after
/// `lock_wait_timeout` = 5 s (metadata locks and row locks alike).
async fn updates_do_not_time_out(pool: &Pool, times: u32) {
    let mut writer = pool.get_conn().await.unwrap();
    writer
        .query_drop("SET SESSION lock_wait_timeout = 5, innodb_lock_wait_timeout = 5")
        .await
        .unwrap();
    for _ in 0..times {
        writer
            .query_drop("UPDATE product SET price = price + 1 WHERE id = 1")
            .await
            .expect("an application UPDATE must not wait behind the producer's start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_read_only_transaction(pool: &Pool) -> Conn {
    let mut reader = pool.get_conn().await.unwrap();
    reader
        .query_drop("START TRANSACTION READ ONLY")
        .await
        .unwrap();
    let _: Option<u64> = reader
        .query_first("SELECT COUNT(*) FROM product")
        .await
        .unwrap();
    reader
}

/// Every start but the first finds the triggers in place and issues no DDL,
/// so an open read-only transaction does not make it take (and queue the
/// application behind) the table's exclusive metadata lock.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_with_the_triggers_in_place_leaves_the_table_alone() {
    let pool = fresh_database("no_ddl").await;
    let mut conn = pool.get_conn().await.unwrap();
    ensure_seed_table(&mut conn, "product").await.unwrap();
    conn.query_drop("INSERT INTO product (id, name, category, price) VALUES (1, 'p', 'cat_1', 1)")
        .await
        .unwrap();
    drop(conn);

    let mut reader = open_read_only_transaction(&pool).await;
    let start_pool = pool.clone();
    let start = tokio::spawn(async move {
        let mut conn = start_pool.get_conn().await.unwrap();
        ensure_seed_table(&mut conn, "product").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    updates_do_not_time_out(&pool, 10).await;
    tokio::time::timeout(Duration::from_secs(10), start)
        .await
        .expect("the start does not wait for the open transaction")
        .unwrap()
        .unwrap();
    reader.query_drop("COMMIT").await.unwrap();
    drop(reader);
    drop_database(pool).await;
}

/// When DDL is needed (older triggers), it gives way to open transactions
/// (short lock_wait_timeout, retried) instead of freezing the table, and
/// completes once they end.
#[tokio::test(flavor = "multi_thread")]
async fn trigger_ddl_gives_way_to_an_open_transaction_and_retries() {
    let pool = fresh_database("ddl_retry").await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE product (
            id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,
            category VARCHAR(64) NOT NULL, price DECIMAL(12,2) NOT NULL,
            last_updated DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            KEY position (last_updated, id))",
    )
    .await
    .unwrap();
    // The triggers of an earlier version.
    conn.query_drop(
        "CREATE TRIGGER product_stamp_insert_v2 BEFORE INSERT ON product FOR EACH ROW
         SET NEW.last_updated = GREATEST(SYSDATE(6), COALESCE(NEW.last_updated, SYSDATE(6)))",
    )
    .await
    .unwrap();
    conn.query_drop(
        "CREATE TRIGGER product_stamp_update_v2 BEFORE UPDATE ON product FOR EACH ROW
         SET NEW.last_updated = GREATEST(SYSDATE(6), NEW.last_updated, OLD.last_updated + INTERVAL 1 MICROSECOND)",
    )
    .await
    .unwrap();
    conn.query_drop("INSERT INTO product (id, name, category, price) VALUES (1, 'p', 'cat_1', 1)")
        .await
        .unwrap();
    drop(conn);

    let mut reader = open_read_only_transaction(&pool).await;
    let start_pool = pool.clone();
    let start = tokio::spawn(async move {
        let mut conn = start_pool.get_conn().await.unwrap();
        ensure_seed_table(&mut conn, "product").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    updates_do_not_time_out(&pool, 20).await;
    assert!(
        !start.is_finished(),
        "the DDL cannot complete while the transaction is open"
    );
    reader.query_drop("COMMIT").await.unwrap();
    drop(reader);
    tokio::time::timeout(Duration::from_secs(60), start)
        .await
        .expect("the start completes once the transaction ended")
        .unwrap()
        .unwrap();
    let mut conn = pool.get_conn().await.unwrap();
    let names = trigger_names(&mut conn).await;
    assert!(
        names.iter().all(|name| !name.ends_with("_v2")),
        "the old triggers are gone: {names:?}"
    );
    assert_eq!(names.len(), 2, "{names:?}");
    drop(conn);
    drop_database(pool).await;
}

/// A pre-existing table that cannot be tailed exactly is refused, with the
/// ALTER TABLE that fixes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_cannot_be_tailed_is_refused_with_the_fix() {
    let good_stamp = "last_updated DATETIME(6) NOT NULL";
    let cases = [
        (
            "nullable_stamp",
            "id INT NOT NULL PRIMARY KEY, last_updated DATETIME(6) NULL, KEY position (last_updated, id)",
            "ALTER TABLE `product` MODIFY `last_updated` DATETIME(6) NOT NULL",
        ),
        (
            "seconds_only",
            "id INT NOT NULL PRIMARY KEY, last_updated DATETIME NOT NULL, KEY position (last_updated, id)",
            "ALTER TABLE `product` MODIFY `last_updated` DATETIME(6) NOT NULL",
        ),
        (
            "no_position_index",
            &format!("id INT NOT NULL PRIMARY KEY, {good_stamp}"),
            "ALTER TABLE `product` ADD INDEX position (`last_updated`, `id`)",
        ),
        (
            "id_not_unique",
            &format!("id INT NOT NULL, {good_stamp}, KEY position (last_updated, id)"),
            "ALTER TABLE `product` ADD UNIQUE KEY (`id`)",
        ),
    ];
    for (name, columns, fix) in cases {
        let pool = fresh_database(name).await;
        let mut conn = pool.get_conn().await.unwrap();
        conn.query_drop(format!(
            "CREATE TABLE product ({columns}, name VARCHAR(255) NOT NULL DEFAULT '', category VARCHAR(64) NOT NULL DEFAULT '', price DECIMAL(12,2) NOT NULL DEFAULT 0)"
        ))
        .await
        .unwrap();
        let error = ensure_seed_table(&mut conn, "product")
            .await
            .expect_err(&format!("{name}: the table must be refused"));
        let message = error.to_string();
        assert!(message.contains(fix), "{name}: {fix} not in: {message}");
        drop(conn);
        drop_database(pool).await;
    }
}

/// Black-box: `pipeline produce` on such a table stops at start with exit
/// code 2 (not restarted by `pipeline up`) and prints the fix.
#[tokio::test(flavor = "multi_thread")]
async fn produce_on_a_table_without_the_position_index_exits_2_with_the_fix() {
    let harness = common::Harness::new("no_index", "");
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE product (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,
         category VARCHAR(64) NOT NULL, price DECIMAL(12,2) NOT NULL,
         last_updated DATETIME(6) NOT NULL)",
    )
    .await
    .unwrap();
    drop(conn);
    let output = harness.command(&["produce"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ADD INDEX position (`last_updated`, `id`)"),
        "{stderr}"
    );
    pool.disconnect().await.unwrap();
}

/// A missing table is created only when it is the seed's: any other is a
/// configuration error naming `source.table`, the database and the fix,
/// never a table of the seed's shape under the user's name.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_other_than_the_seeds_is_refused_with_the_fix() {
    let pool = fresh_database("missing").await;
    let mut conn = pool.get_conn().await.unwrap();
    let database = database_of(&mut conn).await;
    let error =
        pipeline::source::mysql::ensure_source_table(&mut conn, "orders", &[], "changed_at")
            .await
            .expect_err("a missing table is refused");
    let message = error.to_string();
    assert!(
        message.contains("source.table")
            && message.contains("`orders`")
            && message.contains(&database)
            && message.contains("create it"),
        "{message}"
    );
    let created: Option<u8> = conn
        .query_first("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        .await
        .unwrap();
    assert_eq!(created, None, "nothing is created");
    drop(conn);
    drop_database(pool).await;
}
