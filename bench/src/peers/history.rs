//! Each topic read back as every key's sequence of changes, and compared
//! with the history the workload wrote ([`super::workload`]).
//!
//! The rule: each topic's per-key sequence (operation and row, tombstones
//! aside) must equal the written history; the two topics must also agree on
//! each row's stamp, which the bench cannot know (the server's triggers set
//! it).

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use pipeline::codec::WireDecoder;
use pipeline::record::FieldValue;

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

pub(super) fn cents(text: &str) -> Result<i64> {
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
