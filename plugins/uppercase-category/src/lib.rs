//! Seed transform 1: `category` upper-cased (`cat_5` becomes `CAT_5`).
//!
//! The one rule: Unicode's full, locale-independent upper-case mapping
//! (Rust's `str::to_uppercase`), which is what the seed's Python
//! `str.upper()` applies: `café_5` becomes `CAFÉ_5` and `straße` becomes
//! `STRASSE` (one character may become several).
//!
//! A `transform-batch` plugin: it is sent `category` alone and returns it.

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

use pipeline::transform::batch_types::{Cell, RowOutcome, Span};
use pipeline::transform::types::{FieldSpec, FieldType};

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
            data: Vec::with_capacity(batch.data.len()),
        };
        // One column, `category` (the manifest's `reads`): one value per row,
        // its text a span of `batch.data`; the results' texts go end to end
        // into `result.data`.
        for value in &batch.values {
            let outcome = match value {
                Cell::Text(span) => match text(&batch.data, *span) {
                    Some(category) => {
                        let start = result.data.len();
                        uppercase_into(category, &mut result.data);
                        result.values.push(Cell::Text(Span {
                            start: start as u32,
                            len: (result.data.len() - start) as u32,
                        }));
                        RowOutcome::Keep
                    }
                    None => RowOutcome::Fail("field `category` is not UTF-8 text".into()),
                },
                Cell::Null => {
                    result.values.push(Cell::Null);
                    RowOutcome::Keep
                }
                _ => RowOutcome::Fail("field `category` is not text".into()),
            };
            result.outcomes.push(outcome);
        }
        result
    }
}

/// The text `span` names in `data`.
fn text(data: &[u8], span: Span) -> Option<&str> {
    let start = span.start as usize;
    let bytes = data.get(start..start.checked_add(span.len as usize)?)?;
    std::str::from_utf8(bytes).ok()
}

/// `text` upper-cased onto `out`: ASCII byte by byte (no allocation),
/// anything else by the full mapping.
fn uppercase_into(text: &str, out: &mut Vec<u8>) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|byte| byte.to_ascii_uppercase()));
    } else {
        out.extend_from_slice(text.to_uppercase().as_bytes());
    }
}

export!(UppercaseCategory);
