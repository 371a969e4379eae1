//! Test fixture: writes a `noise` field from `wasi:random` (both the secure
//! and the insecure generator). Without `allow_random` the host must make
//! the same input give the same output.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::{Field, FieldSpec, FieldType, Value};

#[link(wasm_import_module = "wasi:random/random@0.2.4")]
unsafe extern "C" {
    #[link_name = "get-random-u64"]
    fn get_random_u64() -> i64;
}

#[link(wasm_import_module = "wasi:random/insecure@0.2.4")]
unsafe extern "C" {
    #[link_name = "get-insecure-random-u64"]
    fn get_insecure_random_u64() -> i64;
}

struct Random;

impl Guest for Random {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-random".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec![],
            writes: vec![FieldSpec {
                name: "noise".into(),
                type_: FieldType::Long,
                optional: false,
            }],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter()
            .map(|mut row| {
                // SAFETY: plain WASI calls.
                let noise = unsafe { get_random_u64() ^ get_insecure_random_u64().rotate_left(1) };
                row.fields.push(Field {
                    name: "noise".into(),
                    value: Value::Long(noise),
                });
                Outcome::Keep(row)
            })
            .collect()
    }
}

export!(Random);
