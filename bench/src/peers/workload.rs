//! The correctness workload: updates, deletes, re-inserts, key changes,
//! multi-row statements and multi-row transactions, written on one
//! connection so the order of every key's changes is known.
//!
//! The rule: the bench's model of the history is checked against the table
//! itself (the final state of every key) before any topic is compared with
//! it ([`super::history`]).

use std::collections::BTreeMap;

use anyhow::Result;
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::source::mysql::quote_identifier;
use pipeline::updater::Xorshift;

use super::history::{Change, History, State, cents};

/// What the workload wrote.
pub struct Written {
    pub history: History,
    pub changes: usize,
    pub transactions: usize,
}

struct Model {
    live: BTreeMap<i64, State>,
    history: History,
    next_id: i64,
    changes: usize,
}

impl Model {
    fn record(&mut self, id: i64, op: &str, state: Option<State>) {
        match &state {
            Some(state) => self.live.insert(id, state.clone()),
            None => self.live.remove(&id),
        };
        self.history.entry(id).or_default().push(Change {
            op: op.to_owned(),
            state,
            stamp: None,
        });
        self.changes += 1;
    }
}

fn state(random: &mut Xorshift) -> State {
    State {
        name: format!("item {}", random.below(1_000_000)),
        category: format!("cat_{}", random.below(5) + 1),
        price_cents: random.below(1_000_000) as i64 - 1000,
    }
}

fn price(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Fills the table with `keys` rows (the snapshot's: op "r").
pub async fn fill(pool: &Pool, table: &str, keys: usize) -> Result<History> {
    let mut conn = pool.get_conn().await?;
    pipeline::updater::ensure_seed_table(&mut conn, table).await?;
    let mut random = Xorshift::new(7);
    let mut history = History::new();
    let quoted = quote_identifier(table);
    for id in 1..=keys as i64 {
        let row = state(&mut random);
        conn.exec_drop(
            format!("INSERT INTO {quoted} (id, name, category, price) VALUES (?, ?, ?, ?)"),
            (id, &row.name, &row.category, price(row.price_cents)),
        )
        .await?;
        history.entry(id).or_default().push(Change {
            op: "r".into(),
            state: Some(row),
            stamp: None,
        });
    }
    Ok(history)
}

/// One statement of the workload on `conn`, recorded in `model`.
async fn one_change(
    conn: &mut impl Queryable,
    table: &str,
    model: &mut Model,
    random: &mut Xorshift,
) -> Result<()> {
    let live: Vec<i64> = model.live.keys().copied().collect();
    let pick = |random: &mut Xorshift| live[random.below(live.len() as u64) as usize];
    let kind = if live.len() < 10 { 0 } else { random.below(10) };
    match kind {
        // Insert a new key, or bring a deleted one back.
        0 => {
            let deleted: Vec<i64> = model
                .history
                .iter()
                .filter(|(id, changes)| {
                    !model.live.contains_key(id)
                        && changes.last().is_some_and(|change| change.state.is_none())
                })
                .map(|(id, _)| *id)
                .take(64)
                .collect();
            let id = if !deleted.is_empty() && random.below(2) == 0 {
                deleted[random.below(deleted.len() as u64) as usize]
            } else {
                model.next_id += 1;
                model.next_id - 1
            };
            let row = state(random);
            conn.exec_drop(
                format!("INSERT INTO {table} (id, name, category, price) VALUES (?, ?, ?, ?)"),
                (id, &row.name, &row.category, price(row.price_cents)),
            )
            .await?;
            model.record(id, "c", Some(row));
        }
        1 => {
            let id = pick(random);
            conn.exec_drop(format!("DELETE FROM {table} WHERE id = ?"), (id,))
                .await?;
            model.record(id, "d", None);
        }
        // A key change: Debezium's and our form is a delete of the old key
        // and an insert of the new one.
        2 => {
            let id = pick(random);
            let new_id = model.next_id;
            model.next_id += 1;
            conn.exec_drop(
                format!("UPDATE {table} SET id = ? WHERE id = ?"),
                (new_id, id),
            )
            .await?;
            let row = model.live.get(&id).cloned();
            model.record(id, "d", None);
            model.record(new_id, "c", row);
        }
        // One statement changing up to ten rows.
        3 => {
            let from = pick(random);
            conn.exec_drop(
                format!("UPDATE {table} SET price = price + 1 WHERE id BETWEEN ? AND ?"),
                (from, from + 9),
            )
            .await?;
            let hit: Vec<(i64, State)> = model
                .live
                .range(from..=from + 9)
                .map(|(id, row)| (*id, row.clone()))
                .collect();
            for (id, mut row) in hit {
                row.price_cents += 100;
                model.record(id, "u", Some(row));
            }
        }
        _ => {
            let id = pick(random);
            let mut row = model.live[&id].clone();
            row.name = format!("item {}", random.below(1_000_000));
            row.price_cents = random.below(100_000) as i64;
            conn.exec_drop(
                format!("UPDATE {table} SET name = ?, price = ? WHERE id = ?"),
                (&row.name, price(row.price_cents), id),
            )
            .await?;
            model.record(id, "u", Some(row));
        }
    }
    Ok(())
}

/// Runs `statements` statements, a fifth of them as transactions of two to
/// six statements (which may change the same key twice).
pub async fn run_workload(
    pool: &Pool,
    table: &str,
    snapshot: History,
    statements: usize,
) -> Result<Written> {
    let mut conn = pool.get_conn().await?;
    let live = snapshot
        .iter()
        .filter_map(|(id, changes)| Some((*id, changes.last()?.state.clone()?)))
        .collect();
    let next_id = snapshot.keys().max().map_or(1, |max| max + 1);
    let mut model = Model {
        live,
        history: snapshot,
        next_id,
        changes: 0,
    };
    let mut random = Xorshift::new(42);
    let quoted = quote_identifier(table);
    let (mut done, mut transactions) = (0, 0);
    while done < statements {
        if random.below(5) == 0 {
            let size = 2 + random.below(5) as usize;
            let mut transaction = conn
                .start_transaction(mysql_async::TxOpts::default())
                .await?;
            for _ in 0..size {
                one_change(&mut transaction, &quoted, &mut model, &mut random).await?;
            }
            transaction.commit().await?;
            transactions += 1;
            done += size;
        } else {
            one_change(&mut conn, &quoted, &mut model, &mut random).await?;
            done += 1;
        }
    }
    let table_now: Vec<(i64, String, String, String)> = conn
        .query(format!(
            "SELECT id, name, category, CAST(price AS CHAR) FROM {quoted} ORDER BY id"
        ))
        .await?;
    let table_now: BTreeMap<i64, State> = table_now
        .into_iter()
        .map(|(id, name, category, price)| {
            Ok((
                id,
                State {
                    name,
                    category,
                    price_cents: cents(&price)?,
                },
            ))
        })
        .collect::<Result<_>>()?;
    if table_now != model.live {
        let differing = table_now
            .iter()
            .find(|(id, row)| model.live.get(id) != Some(row))
            .map(|(id, row)| format!("key {id}: table {row:?}, model {:?}", model.live.get(id)))
            .or_else(|| {
                let missing = model.live.keys().find(|id| !table_now.contains_key(id))?;
                Some(format!("key {missing} is in the model only"))
            });
        anyhow::bail!(
            "the bench's model of the workload differs from the table's final state: {}",
            differing.unwrap_or_default()
        );
    }
    Ok(Written {
        history: model.history,
        changes: model.changes,
        transactions,
    })
}
