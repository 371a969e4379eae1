//! Time zones: the private MariaDB at -05:00 (started by
//! `scripts/services.sh` on 127.0.0.1:3307), writer sessions in other zones,
//! and MySQL's own record of the UTC instant of every write.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Pool};

use super::Harness;

/// The private server whose global time zone is -05:00.
pub const NON_UTC_SERVER: &str = "mysql://root@127.0.0.1:3307";

/// Panics with the fix when the private server is not answering.
pub fn require_non_utc_server() {
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", 3307)).is_ok(),
        "no MariaDB on 127.0.0.1:3307: run scripts/services.sh (it starts a private one at -05:00)"
    );
}

/// A session on the harness's database whose time zone is `zone` (e.g. "+03:00").
pub async fn writer_in_zone(harness: &Harness, zone: &str) -> Conn {
    let url = format!("{}/{}", harness.mysql_server, harness.database);
    let mut conn = Conn::new(Opts::from_url(&url).unwrap()).await.unwrap();
    conn.query_drop(format!("SET time_zone = '{zone}'"))
        .await
        .unwrap();
    conn
}

/// Adds a table and triggers that record, for every change of `product`,
/// its stamp and the UTC instant of the write as MySQL saw it
/// (`UTC_TIMESTAMP(6)`, the statement's start, whatever the session's zone).
pub async fn record_utc_of_writes(pool: &Pool) {
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS product_written (
            seq BIGINT AUTO_INCREMENT PRIMARY KEY,
            id INT NOT NULL, last_updated DATETIME(6), utc_written DATETIME(6))",
    )
    .await
    .unwrap();
    for (event, name) in [("INSERT", "written_insert"), ("UPDATE", "written_update")] {
        conn.query_drop(format!(
            "CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON product FOR EACH ROW
             INSERT INTO product_written (id, last_updated, utc_written)
             VALUES (NEW.id, NEW.last_updated, UTC_TIMESTAMP(6))"
        ))
        .await
        .unwrap();
    }
}

/// (id, stamp µs) → UTC instant of the write in µs, for every change.
pub async fn utc_of_writes(pool: &Pool) -> HashMap<(i64, i64), i64> {
    let mut conn = pool.get_conn().await.unwrap();
    let rows: Vec<(i32, mysql_async::Value, mysql_async::Value)> = conn
        .query("SELECT id, last_updated, utc_written FROM product_written ORDER BY seq")
        .await
        .unwrap();
    let micros = |value: &mysql_async::Value| {
        pipeline::timestamp::Timestamp::from_mysql(value)
            .unwrap()
            .micros()
    };
    rows.iter()
        .map(|(id, stamp, written)| ((i64::from(*id), micros(stamp)), micros(written)))
        .collect()
}
