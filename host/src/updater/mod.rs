//! The updater: loads the seed products, then changes them at a chosen rate,
//! for demos, tests and benchmarks.

mod seed;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use tokio::sync::watch;

use crate::error::Result;
use crate::source::mysql::{ensure_source_table, quote_identifier};

/// The seed's table: the one table the producer creates when it is missing
/// (any other missing table is a configuration error).
pub const SEED_TABLE: &str = "product";

/// The seed table's key column.
pub const SEED_KEY_COLUMN: &str = "id";

/// Creates the seed's table (under any name: tests give each its own), with
/// the `(stamp, key)` index the tailer reads by. `key_columns` empty: `id`.
pub async fn create_seed_table(
    conn: &mut Conn,
    table: &str,
    key_columns: &[String],
    timestamp_column: &str,
) -> Result<()> {
    let key = key_columns.first().map_or(SEED_KEY_COLUMN, String::as_str);
    let (table, id, stamp) = (
        quote_identifier(table),
        quote_identifier(key),
        quote_identifier(timestamp_column),
    );
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            {id} INT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            category VARCHAR(64) NOT NULL,
            price DECIMAL(12,2) NOT NULL,
            {stamp} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            KEY position ({stamp}, {id})
        ) ENGINE=InnoDB"
    ))
    .await?;
    Ok(())
}

/// The seed's table under `table`, created when missing, checked and with
/// its triggers in place, as the producer would leave it (the updater, the
/// tests and the bench write to it before or without a producer).
pub async fn ensure_seed_table(conn: &mut Conn, table: &str) -> Result<()> {
    let timestamp_column = crate::config::SourceConfig::default().timestamp_column;
    let key = [SEED_KEY_COLUMN.to_owned()];
    if !crate::source::mysql::table_exists(conn, table).await? {
        create_seed_table(conn, table, &key, &timestamp_column).await?;
    }
    ensure_source_table(conn, table, &key, &timestamp_column).await?;
    Ok(())
}

pub use seed::{SeedProduct, read_seed};

/// How the updater changes rows.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    /// Updates to make; `None` runs until shutdown.
    pub count: Option<u64>,
    /// Updates per second.
    pub rate: f64,
    /// Send updates in bursts of this many, then pause to keep the rate.
    pub burst: u64,
    /// Update `products` products from `first_product` on (they must exist).
    pub first_product: i32,
    pub products: i32,
    /// Walk the products in order instead of at random (one touch per
    /// product per round, so nothing coalesces while products > rate × poll).
    pub round_robin: bool,
    pub seed: u64,
    /// Every Nth change deletes the row and inserts it again (one
    /// transaction, a fresh stamp) instead of updating it; 0: never. Binlog
    /// mode delivers both, so tests can check that deletes arrive; timestamp
    /// polling sees only the new row (deletes are not in a table).
    pub delete_every: u64,
}

/// A small deterministic generator (xorshift64*): updates are reproducible
/// from `--seed`, and the updater needs no randomness crate.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Inserts the seed products that are not in the table yet.
pub async fn load_seed(pool: &Pool, table: &str, products: &[SeedProduct]) -> Result<usize> {
    let mut conn = pool.get_conn().await?;
    ensure_seed_table(&mut conn, table).await?;
    let statement = format!(
        "INSERT IGNORE INTO {} (id, name, category, price, last_updated) VALUES (?, ?, ?, ?, ?)",
        quote_identifier(table)
    );
    let mut inserted = 0;
    for product in products {
        conn.exec_drop(
            statement.as_str(),
            (
                product.id,
                &product.name,
                &product.category,
                product.price,
                &product.last_updated,
            ),
        )
        .await?;
        inserted += conn.affected_rows() as usize;
    }
    Ok(inserted)
}

/// Creates or changes products `first..first+rows` in multi-row statements:
/// a benchmark's preload of distinct changed rows.
pub async fn bulk_upsert(pool: &Pool, table: &str, first: i32, rows: i32) -> Result<()> {
    let mut conn = pool.get_conn().await?;
    ensure_seed_table(&mut conn, table).await?;
    let table = quote_identifier(table);
    for chunk_start in (first..first + rows).step_by(1000) {
        let chunk_end = (chunk_start + 1000).min(first + rows);
        let values: Vec<String> = (chunk_start..chunk_end)
            .map(|id| {
                format!(
                    "({id}, 'Product {id}', 'cat_{}', {}.{:02}, NOW(6))",
                    id % 5 + 1,
                    10 + id % 490,
                    id % 100
                )
            })
            .collect();
        conn.query_drop(format!(
            "INSERT INTO {table} (id, name, category, price, last_updated) VALUES {}
             ON DUPLICATE KEY UPDATE price = price + 1, last_updated = NOW(6)",
            values.join(",")
        ))
        .await?;
    }
    Ok(())
}

/// Applies updates per `plan` until done or shutdown; returns how many.
pub async fn run_updates(
    pool: &Pool,
    table: &str,
    plan: &UpdatePlan,
    mut shutdown: watch::Receiver<bool>,
) -> Result<u64> {
    let mut conn = pool.get_conn().await?;
    let mut random = Xorshift::new(plan.seed);
    let started = Instant::now();
    let burst = plan.burst.max(1);
    let mut done = 0u64;
    let mut next_product = 0;
    while plan.count.is_none_or(|count| done < count) && !*shutdown.borrow() {
        let this_burst = plan.count.map_or(burst, |count| burst.min(count - done));
        for _ in 0..this_burst {
            let offset = if plan.round_robin {
                next_product = next_product % plan.products + 1;
                next_product - 1
            } else {
                random.below(plan.products as u64) as i32
            };
            let id = plan.first_product + offset;
            if plan.delete_every > 0 && (done + 1).is_multiple_of(plan.delete_every) {
                delete_and_insert_again(&mut conn, table, id).await?;
            } else {
                apply_random_change(&mut conn, table, id, &mut random).await?;
            }
            done += 1;
        }
        // Sleep until the rate catches up with what has been sent.
        let due = Duration::from_secs_f64(done as f64 / plan.rate.max(0.001));
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    Ok(done)
}

/// Deletes product `id` and inserts it again with the same values and a new
/// stamp, in one transaction: two changes of the row, the delete in the
/// middle of a transaction (binlog mode must deliver it all the same).
async fn delete_and_insert_again(conn: &mut Conn, table: &str, id: i32) -> Result<()> {
    let table = quote_identifier(table);
    let mut transaction = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    let row: Option<(String, String, String)> = transaction
        .exec_first(
            format!(
                "SELECT name, category, CAST(price AS CHAR) FROM {table} WHERE id = ? FOR UPDATE"
            ),
            (id,),
        )
        .await?;
    if let Some((name, category, price)) = row {
        transaction
            .exec_drop(format!("DELETE FROM {table} WHERE id = ?"), (id,))
            .await?;
        transaction
            .exec_drop(
                format!(
                    "INSERT INTO {table} (id, name, category, price, last_updated) VALUES (?, ?, ?, ?, NOW(6))"
                ),
                (id, name, category, price),
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// One change to product `id`: its price, its category or its name.
async fn apply_random_change(
    conn: &mut Conn,
    table: &str,
    id: i32,
    random: &mut Xorshift,
) -> Result<()> {
    let table = quote_identifier(table);
    match random.below(3) {
        0 => {
            let cents = random.below(50_000) + 100;
            conn.exec_drop(
                format!("UPDATE {table} SET price = ?, last_updated = NOW(6) WHERE id = ?"),
                (cents as f64 / 100.0, id),
            )
            .await?
        }
        1 => {
            let category = format!("cat_{}", random.below(5) + 1);
            conn.exec_drop(
                format!("UPDATE {table} SET category = ?, last_updated = NOW(6) WHERE id = ?"),
                (category, id),
            )
            .await?
        }
        _ => {
            let name = format!("Product {id} rev {}", random.below(1_000_000));
            conn.exec_drop(
                format!("UPDATE {table} SET name = ?, last_updated = NOW(6) WHERE id = ?"),
                (name, id),
            )
            .await?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Xorshift;

    #[test]
    fn generator_is_deterministic_and_in_range() {
        let mut a = Xorshift::new(7);
        let mut b = Xorshift::new(7);
        for _ in 0..1000 {
            let x = a.below(50);
            assert_eq!(x, b.below(50));
            assert!(x < 50);
        }
    }
}
