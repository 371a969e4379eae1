//! Test fixture: leaks 64 KiB of memory per record, across calls, and keeps
//! every record. An instance fills its 16 MiB after about 250 records; no
//! record is at fault, so none may be dead-lettered (each is retried alone on
//! a fresh instance before it could be).

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use std::sync::Mutex;

static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Leak;

impl Guest for Leak {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-leak".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec![],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        let mut leaked = LEAKED.lock().unwrap_or_else(|poison| poison.into_inner());
        rows.into_iter()
            .map(|row| {
                leaked.push(vec![1u8; 64 << 10]);
                Outcome::Keep(row)
            })
            .collect()
    }
}

export!(Leak);
