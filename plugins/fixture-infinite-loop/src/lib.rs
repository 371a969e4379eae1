//! Test fixture: spins forever on records whose `id` is a multiple of 50;
//! passes every other record through. The host's time limit must stop it.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

struct InfiniteLoop;

impl Guest for InfiniteLoop {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-infinite-loop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["id".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter()
            .map(|row| {
                if id(&row) % 50 == 0 {
                    let mut spins = 0u64;
                    loop {
                        spins = std::hint::black_box(spins.wrapping_add(1));
                    }
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

export!(InfiniteLoop);
