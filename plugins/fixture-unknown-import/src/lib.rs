//! Test fixture: imports a function the host does not provide
//! (`read-host-secret`, see its `wit/transform.wit`). The host must refuse
//! it at load with a message naming the import.

wit_bindgen::generate!({ path: "wit", world: "transform" });

struct UnknownImport;

impl Guest for UnknownImport {
    fn manifest() -> Manifest {
        Manifest {
            name: read_host_secret(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec![],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(Outcome::Keep).collect()
    }
}

export!(UnknownImport);
