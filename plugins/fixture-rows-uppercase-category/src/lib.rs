//! Test and bench fixture: `uppercase-category` as it was written against the first
//! version of the interface, the `transform` world (every record as named
//! fields), kept unchanged: the host must still load and run a plugin built
//! that way (`plugin_chain` checks it gives the batch-world seed's output),
//! and the bench measures it side by side with the batch world.
//!
//! Seed transform 1: `category` upper-cased (`cat_5` becomes `CAT_5`).
//!
//! The one rule: Unicode's full, locale-independent upper-case mapping
//! (Rust's `str::to_uppercase`), which is what the seed's Python
//! `str.upper()` applies: `café_5` becomes `CAFÉ_5` and `straße` becomes
//! `STRASSE` (one character may become several).

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

struct UppercaseCategory;

impl Guest for UppercaseCategory {
    fn manifest() -> Manifest {
        Manifest {
            name: "uppercase-category".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["category".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(uppercase_category).collect()
    }
}

fn uppercase_category(mut row: Row) -> Outcome {
    match row.fields.iter_mut().find(|field| field.name == "category") {
        Some(field) => match &mut field.value {
            Value::Text(category) => {
                *category = category.to_uppercase();
                Outcome::Keep(row)
            }
            Value::Null => Outcome::Keep(row),
            _ => Outcome::Fail("field `category` is not text".into()),
        },
        None => Outcome::Fail("record has no field `category`".into()),
    }
}

export!(UppercaseCategory);
