//! Test fixture: sleeps for an hour in `manifest()`, so loading,
//! swapping and `pipeline plugin check` would hang without a limit.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

struct Fixture;

impl Guest for Fixture {
    fn manifest() -> Manifest {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Manifest {
            name: "fixture-manifest-sleep".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec![],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(Outcome::Keep).collect()
    }
}

export!(Fixture);
