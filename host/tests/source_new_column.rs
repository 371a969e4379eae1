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
