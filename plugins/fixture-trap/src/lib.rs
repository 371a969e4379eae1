//! Test fixture: panics (a wasm trap) on records whose `id` is a multiple of
//! 7; passes every other record through, so bisection can be tested.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

struct Trap;

impl Guest for Trap {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-trap".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["id".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter()
            .map(|row| {
                let id = id(&row);
                if id % 7 == 0 {
                    panic!("fixture-trap: record {id} is a multiple of 7");
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
        _ => 1,
    }
}

export!(Trap);
