//! Test fixture: declares 80,000 `writes` (new optional fields), which a
//! quadratic manifest check would take seconds over.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

struct Fixture;

impl Guest for Fixture {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-manifest-writes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec![],
            writes: (0..80_000)
                .map(|n| pipeline::transform::types::FieldSpec {
                    name: format!("extra_{n}"),
                    type_: pipeline::transform::types::FieldType::Long,
                    optional: true,
                })
                .collect(),
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(Outcome::Keep).collect()
    }
}

export!(Fixture);
