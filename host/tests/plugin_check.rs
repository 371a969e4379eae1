//! `check_plugin` (for `pipeline plugin check`) and the `pipeline plugin new`
//! scaffolding.

mod plugin_support;

use pipeline::plugin::{ChainOutcome, check_plugin, new_plugin};
use plugin_support::{schema, wasm};

#[test]
fn check_reports_version_and_sample_outcomes() {
    let report = check_plugin(&wasm("price_filter"), &schema()).unwrap();
    assert!(
        report.version.starts_with("price-filter@0.1.0#"),
        "{}",
        report.version
    );
    assert_eq!(report.samples.len(), 5);
    // Sample prices alternate in sign: odd samples kept, even ones dropped.
    let kept = report
        .samples
        .iter()
        .filter(|(_, outcome)| matches!(outcome, ChainOutcome::Keep(_)))
        .count();
    let dropped = report
        .samples
        .iter()
        .filter(|(_, outcome)| matches!(outcome, ChainOutcome::Dropped { .. }))
        .count();
    assert_eq!((kept, dropped), (3, 2));
    let text = report.to_string();
    assert!(
        text.contains("-> drop: price -20.5 is not positive"),
        "{text}"
    );
}

#[test]
fn check_refuses_a_plugin_that_does_not_fit_the_schema() {
    let schema =
        pipeline::plugin::SchemaFields::new([("id", pipeline::plugin::FieldType::Int, false)]);
    let error = check_plugin(&wasm("cat5_discount"), &schema)
        .map(drop)
        .expect_err("must be refused");
    assert!(
        error.to_string().contains("reads field `category`"),
        "{error}"
    );
}

#[test]
fn check_shows_a_misbehaving_plugin_failing() {
    let report = check_plugin(&wasm("fixture_open_file"), &schema()).unwrap();
    assert!(
        report
            .samples
            .iter()
            .all(|(_, outcome)| matches!(outcome, ChainOutcome::Failed(_)))
    );
}

#[test]
fn new_plugin_writes_a_crate_from_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = new_plugin(dir.path(), "my-filter").unwrap();
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"my-filter\""));
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("name: \"my-filter\".into()"));
    assert!(lib.contains("plugins/wasm/my_filter.wasm"));
    assert!(!lib.contains("{{"));
    assert!(
        new_plugin(dir.path(), "my-filter").is_err(),
        "never overwrites"
    );
    assert!(new_plugin(dir.path(), "Bad Name").is_err());
}

/// The plugin guide's (docs/plugins.md) complete example is
/// `plugins/round-prices`, which the workspace builds: the documentation
/// cannot drift from code that compiles.
#[test]
fn the_readme_plugin_example_is_the_round_prices_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("docs/plugins.md")).unwrap();
    let source = std::fs::read_to_string(root.join("plugins/round-prices/src/lib.rs")).unwrap();
    let marker = "// plugins/round-prices/src/lib.rs";
    let start = readme.find(marker).expect("README shows the example") + marker.len();
    let rest = &readme[start..];
    let example = rest[..rest.find("```").unwrap()]
        .split_once('\n')
        .unwrap()
        .1;
    assert_eq!(example.trim(), source.trim());

    let report = check_plugin(&wasm("round_prices"), &schema()).unwrap();
    let rounded = report.samples.iter().all(|(_, outcome)| match outcome {
        ChainOutcome::Keep(record) => record
            .fields
            .iter()
            .filter(|field| field.name == "price")
            .all(|field| matches!(field.value, pipeline::record::FieldValue::Double(p) if p.fract() == 0.0)),
        _ => false,
    });
    assert!(rounded, "{report}");
}

/// The same through the binary: `pipeline plugin check` and `pipeline plugin new`.
#[test]
fn the_cli_checks_and_scaffolds_plugins() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pipeline = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap()
    };
    let wasm_path = wasm("cat5_discount");
    let check = pipeline(&["plugin", "check", wasm_path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}");
    assert!(
        stdout.contains("cat5-discount@0.1.0#") && stdout.contains("-> keep"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let made = pipeline(&[
        "plugin",
        "new",
        "tidy-names",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(dir.path().join("tidy-names/src/lib.rs").exists());
    let refused = pipeline(&[
        "plugin",
        "new",
        "Bad Name",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "a bad name is bad input");
}

/// `pipeline plugin check` on every hostile fixture: a verdict, never a crash
/// (exit 101) or a hang. A plugin that attacks only some records passes the
/// check (the samples are innocent); one that attacks at load is refused as
/// bad input (exit 2) with a message naming the plugin and the cause.
#[test]
fn the_cli_gives_a_verdict_on_every_hostile_plugin() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cases: &[(&str, i32, &str)] = &[
        ("fixture_hostile", 0, "-> keep"),
        ("fixture_leak", 0, "-> keep"),
        ("fixture_random", 0, "-> keep"),
        ("fixture_manifest_sleep", 2, "plugins may not block"),
        ("fixture_manifest_panic", 2, "manifest() failed: trapped"),
        ("fixture_manifest_huge", 2, "its manifest is larger than"),
        ("fixture_manifest_writes", 2, "its manifest is larger than"),
        (
            "fixture_key_optional",
            2,
            "declares the key field `id` optional",
        ),
        ("fixture_unknown_import", 2, "imports `read-host-secret`"),
        ("fixture_batch_v1", 2, "rebuild it against the current wit"),
    ];
    for (file, code, expected) in cases {
        let path = wasm(file);
        let started = std::time::Instant::now();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["plugin", "check", path.to_str().unwrap()])
            .current_dir(&root)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(*code), "{file}: {text}");
        assert!(
            text.contains(expected),
            "{file}: expected `{expected}` in {text}"
        );
        if *code != 0 {
            let named = text.contains(&format!("{file}.wasm"))
                || text.contains(&format!("plugin {}", file.replace('_', "-")));
            assert!(named, "{file}: names the plugin: {text}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{file}: {:?}",
            started.elapsed()
        );
    }
}
