//! The correctness workload: updates, deletes, re-inserts, key changes,
//! multi-row statements and multi-row transactions, written on one
//! connection so the order of every key's changes is known, and the
//! comparison of each topic with that history.
//!
//! The rule: the bench's model of the history is checked against the table
//! itself (the final state of every key), and each topic's per-key
//! sequence (operation and row, tombstones aside) must equal the model;
//! the two topics must also agree on each row's stamp, which the model
//! cannot know (the server's triggers set it).

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::codec::WireDecoder;
use pipeline::record::FieldValue;
use pipeline::source::mysql::quote_identifier;
use pipeline::updater::Xorshift;

use super::topic::Received;

/// A row's state as both topics can carry it (the stamp apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub name: String,
    pub category: String,
    pub price_cents: i64,
}

/// One change of a key as a topic carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Debezium's letters: r, c, u, d.
    pub op: String,
    /// The row after the change; `None` for a delete.
    pub state: Option<State>,
    /// The row's stamp (µs), `None` for a delete.
    pub stamp: Option<i64>,
}

/// Every key's changes in order.
pub type History = BTreeMap<i64, Vec<Change>>;

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

fn cents(text: &str) -> Result<i64> {
    let negative = text.starts_with('-');
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let value: i64 = digits.parse().with_context(|| format!("price `{text}`"))?;
    let scale = text
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    let value = match scale {
        0 => value * 100,
        1 => value * 10,
        _ => value,
    };
    Ok(if negative { -value } else { value })
}

/// A key as either topic writes it: `12` (ours) or `{"id":12}` (Debezium's).
fn key_of(key: &[u8]) -> Result<i64> {
    let json: serde_json::Value = serde_json::from_slice(key)?;
    json.as_i64()
        .or_else(|| json.get("id").and_then(serde_json::Value::as_i64))
        .ok_or_else(|| anyhow!("a key that is not an id: {json}"))
}

/// Debezium's topic (JSON, schemas off) as per-key histories.
pub fn debezium_history(messages: &[Received]) -> Result<History> {
    let mut history = History::new();
    for message in messages {
        let (Some(key), Some(payload)) = (&message.key, &message.payload) else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        let op = value["op"].as_str().unwrap_or("?").to_owned();
        let after = &value["after"];
        let (state, stamp) = if after.is_null() {
            (None, None)
        } else {
            let price = after["price"].as_str().unwrap_or("");
            (
                Some(State {
                    name: after["name"].as_str().unwrap_or("").to_owned(),
                    category: after["category"].as_str().unwrap_or("").to_owned(),
                    price_cents: debezium_decimal(price)?,
                }),
                after["last_updated"].as_i64(),
            )
        };
        history
            .entry(key_of(key)?)
            .or_default()
            .push(Change { op, state, stamp });
    }
    Ok(history)
}

/// Debezium's `precise` decimal without a schema: the unscaled value's
/// big-endian two's-complement bytes in base64 (the scale, 2, is the
/// column's).
fn debezium_decimal(text: &str) -> Result<i64> {
    let bytes = base64_decode(text).with_context(|| format!("decimal `{text}`"))?;
    let mut value: i64 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for byte in bytes {
        value = (value << 8) | i64::from(byte);
    }
    Ok(value)
}

fn base64_decode(text: &str) -> Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|&b| b != b'=') {
        let index = ALPHABET
            .iter()
            .position(|&c| c == byte)
            .ok_or_else(|| anyhow!("not base64"))?;
        bits = (bits << 6) | index as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Ok(out)
}

/// Our topic (Avro in the wire format) as per-key histories.
pub async fn pipeline_history(
    messages: &[Received],
    decoder: &WireDecoder,
    operation_field: &str,
) -> Result<History> {
    let mut history = History::new();
    for message in messages {
        let (Some(key), Some(_)) = (&message.key, &message.payload) else {
            continue;
        };
        let record = decoder.decode(message.payload.as_deref()).await?;
        let op = match record.get(operation_field) {
            Some(FieldValue::Text(op)) => op.clone(),
            _ => "?".into(),
        };
        let text = |name: &str| match record.get(name) {
            Some(FieldValue::Text(text)) => text.clone(),
            _ => String::new(),
        };
        let (state, stamp) = if op == "d" {
            (None, None)
        } else {
            let price_cents = match record.get("price") {
                Some(FieldValue::Decimal(text) | FieldValue::Text(text)) => cents(text)?,
                Some(FieldValue::Double(value)) => (value * 100.0).round() as i64,
                other => anyhow::bail!("our record's price is {other:?}"),
            };
            let stamp = match record.get("last_updated") {
                Some(FieldValue::Long(micros)) => Some(*micros),
                _ => None,
            };
            (
                Some(State {
                    name: text("name"),
                    category: text("category"),
                    price_cents,
                }),
                stamp,
            )
        };
        history
            .entry(key_of(key)?)
            .or_default()
            .push(Change { op, state, stamp });
    }
    Ok(history)
}

/// Keys of `expected` whose topic sequence (stamps aside) equals it, and
/// the first that does not.
pub fn matching(expected: &History, got: &History) -> (usize, Option<String>) {
    let strip = |changes: &[Change]| -> Vec<(String, Option<State>)> {
        changes
            .iter()
            .map(|change| (change.op.clone(), change.state.clone()))
            .collect()
    };
    let mut first = None;
    let mut count = 0;
    for (key, changes) in expected {
        let theirs = got
            .get(key)
            .map(|changes| strip(changes))
            .unwrap_or_default();
        if theirs == strip(changes) {
            count += 1;
        } else if first.is_none() {
            first = Some(format!(
                "key {key}: expected {:?}, got {:?}",
                strip(changes),
                theirs
            ));
        }
    }
    if let Some(extra) = got.keys().find(|key| !expected.contains_key(key)) {
        first.get_or_insert_with(|| format!("key {extra} is in the topic but was never written"));
    }
    (count, first)
}

/// Keys whose full sequences (stamps included) differ between two topics.
pub fn differing(a: &History, b: &History) -> (usize, Option<String>) {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    let empty = Vec::new();
    let mut first = None;
    let count = keys
        .into_iter()
        .filter(|key| {
            let (x, y) = (a.get(key).unwrap_or(&empty), b.get(key).unwrap_or(&empty));
            let differs = x != y;
            if differs && first.is_none() {
                first = Some(format!("key {key}: pipeline {x:?}, Debezium {y:?}"));
            }
            differs
        })
        .count();
    (count, first)
}

/// Messages expected in a topic for `history`: one per change, and a
/// tombstone after each delete.
pub fn expected_messages(history: &History) -> i64 {
    history
        .values()
        .flatten()
        .map(|change| if change.op == "d" { 2 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debezium_decimals_are_base64_twos_complement() {
        // Seen in Debezium's topic: 1.50 and -3.10 at scale 2.
        assert_eq!(debezium_decimal("AJY=").unwrap(), 150);
        assert_eq!(debezium_decimal("/so=").unwrap(), -310);
        assert_eq!(cents("-3.10").unwrap(), -310);
        assert_eq!(cents("12.05").unwrap(), 1205);
    }

    #[test]
    fn keys_of_both_topics_are_read() {
        assert_eq!(key_of(b"12").unwrap(), 12);
        assert_eq!(key_of(br#"{"id":12}"#).unwrap(), 12);
    }

    #[test]
    fn a_reordered_key_does_not_match() {
        let change = |op: &str, cents| Change {
            op: op.into(),
            state: Some(State {
                name: "a".into(),
                category: "c".into(),
                price_cents: cents,
            }),
            stamp: None,
        };
        let expected: History = [(1, vec![change("r", 1), change("u", 2)])].into();
        let swapped: History = [(1, vec![change("u", 2), change("r", 1)])].into();
        assert_eq!(matching(&expected, &expected).0, 1);
        assert_eq!(matching(&expected, &swapped).0, 0);
        assert_eq!(expected_messages(&expected), 2);
    }
}
