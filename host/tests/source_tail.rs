//! The tailer against real MariaDB: it never hands on a row that a change
//! still in flight could land behind, and a statement that waited for a lock
//! is stamped when it writes, not when it began.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use pipeline::record::FieldValue;
use pipeline::source::mysql::connect;
use pipeline::source::{Position, SourceRow, Tailer};
use pipeline::updater::ensure_seed_table;

const GRACE: Duration = Duration::from_millis(20);

async fn fresh_table(test: &str) -> Pool {
    let database = format!("pt_tail_{test}_{}", std::process::id());
    let server = Pool::new("mysql://root@127.0.0.1:3306");
    let mut conn = server.get_conn().await.unwrap();
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{database}`"))
        .await
        .unwrap();
    drop(conn);
    server.disconnect().await.unwrap();
    let pool = connect(&format!("mysql://root@127.0.0.1:3306/{database}"))
        .await
        .unwrap();
    let mut conn = pool.get_conn().await.unwrap();
    ensure_seed_table(&mut conn, "product").await.unwrap();
    for id in 1..=3 {
        conn.exec_drop(
            "INSERT INTO product (id, name, category, price) VALUES (?, 'p', 'cat_1', 1.0)",
            (id,),
        )
        .await
        .unwrap();
    }
    pool
}

async fn read(pool: &Pool, after: Option<Position>) -> Vec<SourceRow> {
    tokio::time::sleep(GRACE * 3).await;
    let mut conn = pool.get_conn().await.unwrap();
    let tailer = Tailer::from_catalog(
        &mut conn,
        "product",
        &[],
        "last_updated",
        pipeline::config::DecimalHandling::Double,
        GRACE,
    )
    .await
    .unwrap();
    tailer
        .read_committed(&mut conn, after.as_ref(), 100)
        .await
        .unwrap()
}

fn ids(rows: &[SourceRow]) -> Vec<i64> {
    rows.iter()
        .map(|row| match row.position.key[..] {
            [pipeline::source::KeyPart::Int(id)] => id,
            _ => panic!("the seed's key is one integer"),
        })
        .collect()
}

async fn begin_update(pool: &Pool, id: i64) -> Conn {
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("START TRANSACTION").await.unwrap();
    conn.exec_drop("UPDATE product SET price = price + 1 WHERE id = ?", (id,))
        .await
        .unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_after_an_uncommitted_change_wait_for_its_commit() {
    let pool = fresh_table("uncommitted").await;
    let seed = read(&pool, None).await;
    assert_eq!(ids(&seed), [1, 2, 3]);
    let after = seed.last().map(|row| row.position.clone());

    let mut open = begin_update(&pool, 2).await; // in flight
    pool.get_conn()
        .await
        .unwrap()
        .query_drop("UPDATE product SET price = 9 WHERE id = 3") // committed, later
        .await
        .unwrap();
    assert!(
        read(&pool, after.clone()).await.is_empty(),
        "row 3 changed after row 2's uncommitted change: it must wait"
    );

    open.query_drop("COMMIT").await.unwrap();
    drop(open);
    assert_eq!(ids(&read(&pool, after.clone()).await), [2, 3]);
    pool.disconnect().await.unwrap();
}

/// A statement stamped when it began would, after waiting for a lock, write
/// a row stamped before rows that were committed and read meanwhile: the
/// position would already be past it. The triggers stamp the write instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_that_waited_for_a_lock_lands_after_what_was_read_meanwhile() {
    let pool = fresh_table("lock_wait").await;
    let after = read(&pool, None)
        .await
        .last()
        .map(|row| row.position.clone());

    // A lock without a written row: nothing for the dirty read to see.
    let mut holder = pool.get_conn().await.unwrap();
    holder.query_drop("START TRANSACTION").await.unwrap();
    holder
        .query_drop("SELECT * FROM product WHERE id = 2 FOR UPDATE")
        .await
        .unwrap();
    let waiter_pool = pool.clone();
    let waiter = tokio::spawn(async move {
        let mut conn = waiter_pool.get_conn().await.unwrap();
        conn.query_drop("UPDATE product SET price = 42 WHERE id = 2")
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    pool.get_conn()
        .await
        .unwrap()
        .query_drop("UPDATE product SET price = 9 WHERE id = 3")
        .await
        .unwrap();
    let meanwhile = read(&pool, after.clone()).await;
    assert_eq!(ids(&meanwhile), [3]);

    holder.query_drop("COMMIT").await.unwrap();
    drop(holder);
    waiter.await.unwrap();
    let rows = read(&pool, meanwhile.last().map(|row| row.position.clone())).await;
    assert_eq!(ids(&rows), [2], "the waiter's change is after row 3's");
    assert_eq!(rows[0].record.get("price"), Some(&FieldValue::Double(42.0)));
    pool.disconnect().await.unwrap();
}
