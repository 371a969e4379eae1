//! Test fixture: a 1 MB name and version in its manifest, which the host
//! would copy into every log line and dead letter.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

struct Fixture;

impl Guest for Fixture {
    fn manifest() -> Manifest {
        Manifest {
            name: "n".repeat(1_000_000),
            version: "v".repeat(1_000_000),
            reads: vec![],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(Outcome::Keep).collect()
    }
}

export!(Fixture);
