//! Reading the consumer logs and checking them against MySQL's history.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

/// One change as MySQL recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// "c" insert, "u" update, "d" delete (binlog mode's letters).
    pub op: String,
    pub id: i64,
    pub last_updated: i64,
    pub name: String,
    pub category: String,
    pub price: f64,
}

/// One log line.
#[derive(Debug, Clone)]
pub struct Line {
    pub member: u32,
    pub file_member: u32,
    pub partition: i32,
    pub offset: i64,
    pub record: serde_json::Map<String, Value>,
}

impl Line {
    pub fn id(&self) -> i64 {
        self.record["id"].as_i64().unwrap()
    }

    pub fn last_updated(&self) -> i64 {
        self.record["last_updated"].as_i64().unwrap()
    }
}

/// Every line of every `consumer_N/consumer_log.json` under `dir`.
pub fn read_all(dir: &Path) -> Vec<Line> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return lines;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(member) = name.strip_prefix("consumer_").and_then(|n| n.parse().ok()) else {
            continue;
        };
        let text =
            std::fs::read_to_string(entry.path().join("consumer_log.json")).unwrap_or_default();
        for raw in text.lines() {
            let Ok(value) = serde_json::from_str::<Value>(raw) else {
                continue; // a torn line being written right now
            };
            lines.push(Line {
                member: value["member"].as_u64().unwrap() as u32,
                file_member: member,
                partition: value["partition"].as_i64().unwrap() as i32,
                offset: value["offset"].as_i64().unwrap(),
                record: value["record"].as_object().unwrap().clone(),
            });
        }
    }
    lines
}

/// The changes the writer made: a delete and the insert that follows it
/// (the updater's `--delete-every`) count as one.
pub fn writer_changes(history: &[Change]) -> usize {
    history.len() - history.iter().filter(|change| change.op == "d").count()
}

/// Asserts the logs hold every change of `history` exactly once, transformed
/// by the seed chain, and per product in commit order. Binlog records (they
/// carry `__op`) are held to the full history: see [`assert_full_history`].
pub fn assert_exactly_once(history: &[Change], lines: &[Line]) {
    if lines.iter().any(|line| line.record.contains_key("__op")) {
        assert_full_history(history, lines);
        return;
    }
    let mut seen: HashMap<(i64, i64), usize> = HashMap::new();
    for line in lines {
        *seen.entry((line.id(), line.last_updated())).or_default() += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "{} changes written more than once, e.g. {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)]
    );
    let by_position: HashMap<(i64, i64), &Line> = lines
        .iter()
        .map(|l| ((l.id(), l.last_updated()), l))
        .collect();
    let missing: Vec<_> = history
        .iter()
        .filter(|c| !by_position.contains_key(&(c.id, c.last_updated)))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} changes missing from the logs, e.g. {:?}",
        missing.len(),
        history.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        lines.len(),
        history.len(),
        "the logs hold changes MySQL never made"
    );
    for change in history {
        assert_transformed(
            change,
            &by_position[&(change.id, change.last_updated)].record,
        );
    }
    // Per product: the lines, in topic order, follow the commit order.
    let mut per_product: BTreeMap<i64, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        per_product.entry(line.id()).or_default().push(line);
    }
    for (id, mut product_lines) in per_product {
        product_lines.sort_by_key(|l| (l.partition, l.offset));
        let partitions: std::collections::BTreeSet<_> =
            product_lines.iter().map(|l| l.partition).collect();
        assert_eq!(
            partitions.len(),
            1,
            "product {id} is on one partition (keyed by id)"
        );
        let stamps: Vec<_> = product_lines.iter().map(|l| l.last_updated()).collect();
        assert!(
            stamps.windows(2).all(|w| w[0] < w[1]),
            "product {id} out of commit order: {stamps:?}"
        );
    }
}

/// Binlog mode's check: per product, the lines in topic order are exactly
/// its history (each insert, each intermediate update, each delete with the
/// row's last state), none missing, none twice, none extra, with strictly
/// growing sequence numbers. A row the snapshot read (op "r") stands for
/// its insert.
pub fn assert_full_history(history: &[Change], lines: &[Line]) {
    let op_of = |line: &Line| -> String {
        match line.record["__op"].as_str() {
            Some("r") => "c".to_owned(),
            Some(op) => op.to_owned(),
            None => panic!("a binlog line without __op: {:?}", line.record),
        }
    };
    let mut copies: HashMap<(i64, i64), usize> = HashMap::new();
    for line in lines {
        let sequence = line.record["__seq"].as_i64().expect("__seq");
        *copies.entry((line.id(), sequence)).or_default() += 1;
    }
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "{} changes written more than once (id, __seq), e.g. {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)]
    );
    let mut expected: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    for change in history {
        expected
            .entry(change.id)
            .or_default()
            .push((change.op.clone(), change.last_updated));
    }
    let mut per_product: BTreeMap<i64, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        per_product.entry(line.id()).or_default().push(line);
    }
    let mut wrong = Vec::new();
    for (id, product_lines) in &mut per_product {
        product_lines.sort_by_key(|l| (l.partition, l.offset));
        let partitions: std::collections::BTreeSet<_> =
            product_lines.iter().map(|l| l.partition).collect();
        assert_eq!(partitions.len(), 1, "product {id} is on one partition");
        let sequences: Vec<i64> = product_lines
            .iter()
            .map(|l| l.record["__seq"].as_i64().unwrap())
            .collect();
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "product {id}: sequence numbers out of log order: {sequences:?}"
        );
        let got: Vec<(String, i64)> = product_lines
            .iter()
            .map(|l| (op_of(l), l.last_updated()))
            .collect();
        if expected.get(id).map_or(&[][..], Vec::as_slice) != got.as_slice() {
            wrong.push((*id, expected.get(id).cloned().unwrap_or_default(), got));
        }
    }
    for (id, changes) in &expected {
        if !per_product.contains_key(id) {
            wrong.push((*id, changes.clone(), Vec::new()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} products whose logged changes are not their history (id, history, logged), e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    assert_eq!(lines.len(), history.len(), "one line per change");
    let deletes = history.iter().filter(|change| change.op == "d").count();
    let by_change: HashMap<(i64, String, i64), &Line> = lines
        .iter()
        .map(|l| ((l.id(), op_of(l), l.last_updated()), l))
        .collect();
    for change in history {
        let line = by_change[&(change.id, change.op.clone(), change.last_updated)];
        assert_transformed(change, &line.record);
    }
    eprintln!(
        "full history checked: {} changes ({deletes} deletes) of {} products",
        history.len(),
        expected.len()
    );
}

/// The line's record is `change` as the seed chain transforms it.
fn assert_transformed(change: &Change, record: &serde_json::Map<String, Value>) {
    assert_eq!(record["name"], change.name);
    assert_eq!(
        record["category"],
        change.category.to_uppercase(),
        "category upper-cased"
    );
    assert_eq!(record["price"].as_f64().unwrap(), change.price);
    let expected_discount = if change.category.eq_ignore_ascii_case("cat_5") {
        Value::from(((change.price * 0.8) * 100.0).round() / 100.0)
    } else {
        Value::Null
    };
    assert_eq!(
        record["discount_price"], expected_discount,
        "discount of {change:?}"
    );
}
