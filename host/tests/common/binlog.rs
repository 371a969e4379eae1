//! Set-up shared by the binlog-mode tests (`source_binlog`, `source_binlog_gtid`).

use std::time::Duration;

use mysql_async::Pool;
use mysql_async::prelude::Queryable;

use super::Harness;

/// The seed's table without the timestamp mode's position index or
/// triggers: binlog mode needs neither.
pub async fn create_plain_table(harness: &Harness) -> Pool {
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE product (
            id INT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            category VARCHAR(64) NOT NULL,
            price DECIMAL(12,2) NOT NULL,
            last_updated DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ENGINE=InnoDB",
    )
    .await
    .unwrap();
    drop(conn);
    pool
}

/// Starts the registry, five members and the producer, and waits until the
/// producer has saved its first position (its snapshot is done: what is
/// written from now on comes from the log).
pub fn start_pipeline(harness: &mut Harness) {
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);
    let position = harness.path("time_track/binlog_position.json");
    super::wait_until(Duration::from_secs(60), "the snapshot's position", || {
        position.exists()
    });
}
