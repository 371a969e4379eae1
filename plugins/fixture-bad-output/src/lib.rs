//! Test fixture: returns invalid output for some records, by `id`:
//! 1 → `price` as text (wrong type), 2 → an undeclared field, 3 → the field
//! `name` removed, 4 → one outcome too many for the whole batch (wrong
//! number of outcomes); any other record passes through.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::{Field, Value};

struct BadOutput;

impl Guest for BadOutput {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-bad-output".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["id".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        let extra = rows.iter().any(|row| id(row) == 4);
        let mut outcomes: Vec<Outcome> = rows.into_iter().map(corrupt).collect();
        if extra {
            outcomes.push(Outcome::Drop("one too many".into()));
        }
        outcomes
    }
}

fn corrupt(mut row: Row) -> Outcome {
    match id(&row) {
        1 => {
            if let Some(field) = row.fields.iter_mut().find(|field| field.name == "price") {
                field.value = Value::Text("cheap".into());
            }
        }
        2 => row.fields.push(Field {
            name: "surprise".into(),
            value: Value::Boolean(true),
        }),
        3 => row.fields.retain(|field| field.name != "name"),
        _ => {}
    }
    Outcome::Keep(row)
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

export!(BadOutput);
