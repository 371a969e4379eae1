//! Seed transform 1: `category` upper-cased (`cat_5` becomes `CAT_5`).
//!
//! The one rule: Unicode's full, locale-independent upper-case mapping
//! (Rust's `str::to_uppercase`), which is what the seed's Python
//! `str.upper()` applies: `café_5` becomes `CAFÉ_5` and `straße` becomes
//! `STRASSE` (one character may become several).
//!
//! A `transform-batch` plugin: it is sent `category` alone and returns it.

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

use pipeline::transform::batch_types::RowOutcome;
use pipeline::transform::types::{FieldSpec, FieldType, Value};

struct UppercaseCategory;

impl Guest for UppercaseCategory {
    fn manifest() -> Manifest {
        Manifest {
            name: "uppercase-category".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["category".into()],
            // Changed in place, with its own type.
            writes: vec![FieldSpec {
                name: "category".into(),
                type_: FieldType::Text,
                optional: false,
            }],
        }
    }

    fn transform_batch(batch: Batch) -> BatchResult {
        let rows = batch.rows as usize;
        let mut result = BatchResult {
            outcomes: Vec::with_capacity(rows),
            values: Vec::with_capacity(rows),
        };
        // One column, `category` (the manifest's `reads`): one value per row.
        for value in batch.values {
            match value {
                Value::Text(category) => {
                    result.values.push(Value::Text(uppercase(category)));
                    result.outcomes.push(RowOutcome::Keep);
                }
                Value::Null => {
                    result.values.push(Value::Null);
                    result.outcomes.push(RowOutcome::Keep);
                }
                _ => result
                    .outcomes
                    .push(RowOutcome::Fail("field `category` is not text".into())),
            }
        }
        result
    }
}

/// ASCII text in place (no allocation), anything else by the full mapping.
fn uppercase(mut text: String) -> String {
    if text.is_ascii() {
        text.make_ascii_uppercase();
        text
    } else {
        text.to_uppercase()
    }
}

export!(UppercaseCategory);
