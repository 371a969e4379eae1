//! Test fixture: a second version of `uppercase-category` (same name, version
//! 0.2.0) that writes `V2_` + the upper-cased category, so a hot-swap test can
//! tell which version processed each record.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

struct CategoryV2;

impl Guest for CategoryV2 {
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
                *category = format!("V2_{}", category.to_ascii_uppercase());
                Outcome::Keep(row)
            }
            Value::Null => Outcome::Keep(row),
            _ => Outcome::Fail("field `category` is not text".into()),
        },
        None => Outcome::Fail("record has no field `category`".into()),
    }
}

export!(CategoryV2);
