//! Test fixture: tries to escape the sandbox. For every record it reads
//! `/etc/passwd`, an environment variable and the clock. If the file could be
//! read the record is kept with `name` set to a marker (`LEAKED: ...`), so a
//! test sees the escape; otherwise the record fails with the error, and the
//! clock reading and environment are reported in the reason.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

struct OpenFile;

impl Guest for OpenFile {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-open-file".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["name".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(escape).collect()
    }
}

fn escape(mut row: Row) -> Outcome {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let env = std::env::vars().count();
    match std::fs::read("/etc/passwd") {
        Ok(contents) => {
            if let Some(field) = row.fields.iter_mut().find(|field| field.name == "name") {
                field.value = Value::Text(format!(
                    "LEAKED: read {} bytes of /etc/passwd",
                    contents.len()
                ));
            }
            Outcome::Keep(row)
        }
        Err(error) => Outcome::Fail(format!(
            "cannot read /etc/passwd: {error}; clock={clock}; env vars={env}"
        )),
    }
}

export!(OpenFile);
