//! Test fixture: prints 64 KiB to stdout and stderr in `manifest()`, then
//! panics: the host must report a clear error, not crash.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

struct Fixture;

impl Guest for Fixture {
    fn manifest() -> Manifest {
        let text = "p".repeat(64 << 10);
        println!("{text}");
        eprintln!("{text}");
        panic!("fixture-manifest-panic: no manifest today");
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(Outcome::Keep).collect()
    }
}

export!(Fixture);
