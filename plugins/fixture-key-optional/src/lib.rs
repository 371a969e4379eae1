//! Test fixture: re-declares the key field `id` as optional in `writes`,
//! then returns records without a key (id 5) or with a null key (id 6). The
//! host must refuse the manifest: the key can never be missing or null.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::{FieldSpec, FieldType, Value};

struct KeyOptional;

impl Guest for KeyOptional {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-key-optional".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["id".into()],
            writes: vec![FieldSpec {
                name: "id".into(),
                type_: FieldType::Int,
                optional: true,
            }],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter()
            .map(|mut row| {
                match id(&row) {
                    5 => row.fields.retain(|field| field.name != "id"),
                    6 => {
                        for field in &mut row.fields {
                            if field.name == "id" {
                                field.value = Value::Null;
                            }
                        }
                    }
                    _ => {}
                }
                Outcome::Keep(row)
            })
            .collect()
    }
}

fn id(row: &Row) -> i64 {
    match row
        .fields
        .iter()
        .find(|field| field.name == "id")
        .map(|field| &field.value)
    {
        Some(Value::Int(id)) => i64::from(*id),
        Some(Value::Long(id)) => *id,
        _ => 0,
    }
}

export!(KeyOptional);
