//! The updater: loads the seed products, then changes them at a chosen rate,
//! for demos, tests and benchmarks.

mod seed;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use tokio::sync::watch;

use crate::error::Result;
use crate::source::mysql::{ensure_product_table, quote_identifier};

/// The seed table's key column: what the producer creates a missing source
/// table with (the seed's shape).
pub const SEED_KEY_COLUMN: &str = "id";

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
    ensure_product_table(&mut conn, table).await?;
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
    ensure_product_table(&mut conn, table).await?;
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
            apply_random_change(&mut conn, table, id, &mut random).await?;
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
