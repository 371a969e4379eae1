//! The seed transforms written in Python and JavaScript (plugins/python,
//! plugins/js) behave exactly as the Rust ones, under the same sandbox.

mod plugin_support;

use std::time::Instant;

use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, Language, PluginChain, check_plugin_with, new_plugin_in};
use pipeline::record::{FieldValue, Record};
use plugin_support::{schema, wasm};

/// What README and pipeline.toml document as each language's `memory_limit_mib`.
const PYTHON_MEMORY_MIB: u64 = 32;
const JS_MEMORY_MIB: u64 = 32;

fn seed_chain(suffix: &str, memory_limit_mib: u64) -> PluginChain {
    let plugins = ["uppercase_category", "cat5_discount"].map(|name| PluginConfig {
        memory_limit_mib,
        ..PluginConfig::at(wasm(&format!("{name}{suffix}")))
    });
    PluginChain::load(&plugins, &schema()).unwrap()
}

/// Records that exercise both rules: categories in several cases and
/// scripts, prices whose 80% falls on, near and between half cents.
fn tricky_records() -> Vec<Record> {
    let categories = [
        "cat_5", "CAT_5", "Cat_5", "cat_1", "café_5", "straße", "", "ǆ_5", "cat_5 ",
    ];
    let mut prices = vec![
        1.29375,
        -1.29375,
        1000000.15625,
        1.29374,
        0.00625,
        0.006,
        0.0,
        -0.0,
        40.86,
        12.5,
        99.99,
        1e20,
        1e-300,
        1e21,
        1.5e-7,
        123456789.015625,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    prices.extend((0..400).map(|k| f64::from(k) * 0.03125 + 0.005));
    prices.extend((0..400).map(|k| f64::from(k * 7919 % 100_000) / 100.0));
    let mut records = Vec::new();
    for (n, price) in prices.iter().enumerate() {
        let id = i32::try_from(n).unwrap();
        records.push(
            Record::default()
                .with("id", FieldValue::Int(id))
                .with("name", FieldValue::Text(format!("product {id}")))
                .with(
                    "category",
                    FieldValue::Text(categories[n % categories.len()].into()),
                )
                .with("price", FieldValue::Double(*price))
                .with("last_updated", FieldValue::Long(1_700_000_000_000_000)),
        );
    }
    records
}

fn outputs(chain: &mut PluginChain, records: Vec<Record>) -> Vec<String> {
    chain
        .process(records)
        .iter()
        .map(|outcome| match outcome {
            ChainOutcome::Keep(record) => format!("{:?}", record.fields),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn python_and_js_seed_chains_give_the_rust_chains_output() {
    let mut rust = seed_chain("", 16);
    let expected = outputs(&mut rust, tricky_records());
    assert!(expected.iter().any(|line| line.contains("discount_price")));
    for (suffix, memory) in [("_py", PYTHON_MEMORY_MIB), ("_js", JS_MEMORY_MIB)] {
        let started = Instant::now();
        let mut chain = seed_chain(suffix, memory);
        eprintln!("{suffix}: loaded in {:?}", started.elapsed());
        assert!(
            chain.versions().starts_with("uppercase-category@0.1.0#"),
            "{}",
            chain.versions()
        );
        let got = outputs(&mut chain, tricky_records());
        for (n, (got, expected)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(got, expected, "{suffix} record {n}");
        }
        assert_eq!(got.len(), expected.len());
    }
}

fn with_memory(path: std::path::PathBuf, memory_limit_mib: u64) -> PluginConfig {
    PluginConfig {
        memory_limit_mib,
        ..PluginConfig::at(path)
    }
}

#[test]
fn plugin_check_works_in_every_language() {
    let error = check_plugin_with(&with_memory(wasm("cat5_discount_py"), 8), &schema())
        .map(drop)
        .expect_err("8 MiB is too little for Python");
    assert!(
        error
            .to_string()
            .contains("exceeded its memory limit (memory_limit_mib = 8): it asked for")
            && error.to_string().contains("memory_limit_mib = 32"),
        "{error}"
    );
    for (file, memory) in [
        ("cat5_discount", 16),
        ("cat5_discount_py", PYTHON_MEMORY_MIB),
        ("cat5_discount_js", JS_MEMORY_MIB),
    ] {
        let report = check_plugin_with(&with_memory(wasm(file), memory), &schema()).unwrap();
        assert!(
            report.version.starts_with("cat5-discount@0.1.0#"),
            "{file}: {}",
            report.version
        );
        assert!(
            report
                .samples
                .iter()
                .all(|(_, outcome)| matches!(outcome, ChainOutcome::Keep(_))),
            "{file}: {report}"
        );
    }
}

/// Prints the smallest memory limit each component loads and runs with, and
/// checks the documented defaults leave room.
#[test]
fn memory_each_language_needs() {
    for (file, documented) in [
        ("cat5_discount", 16),
        ("cat5_discount_py", PYTHON_MEMORY_MIB),
        ("cat5_discount_js", JS_MEMORY_MIB),
    ] {
        let runs = |mib: u64| {
            let config = PluginConfig {
                memory_limit_mib: mib,
                ..PluginConfig::at(wasm(file))
            };
            PluginChain::load(&[config], &schema()).is_ok_and(|mut chain| {
                chain
                    .process(tricky_records())
                    .iter()
                    .all(|outcome| matches!(outcome, ChainOutcome::Keep(_)))
            })
        };
        let needed = (1..=documented).find(|mib| runs(*mib));
        eprintln!("{file}: needs {needed:?} MiB (documented {documented})");
        let needed = needed.unwrap_or_else(|| panic!("{file} does not run in {documented} MiB"));
        assert!(
            needed * 5 / 4 <= documented,
            "{file}: {needed} MiB leaves no headroom in {documented}"
        );
    }
}

/// The plugin guide's (docs/plugins.md) Python and JavaScript examples are `plugins/python/round-prices`
/// and `plugins/js/round-prices`, which `build-plugins.sh` builds.
#[test]
fn the_readme_python_and_js_examples_are_the_round_prices_plugins() {
    let readme = std::fs::read_to_string(plugin_support::root().join("docs/plugins.md")).unwrap();
    for (marker, source, file, memory) in [
        (
            "# plugins/python/round-prices/app.py",
            "plugins/python/round-prices/app.py",
            "round_prices_py",
            PYTHON_MEMORY_MIB,
        ),
        (
            "// plugins/js/round-prices/index.js",
            "plugins/js/round-prices/index.js",
            "round_prices_js",
            JS_MEMORY_MIB,
        ),
    ] {
        let source = std::fs::read_to_string(plugin_support::root().join(source)).unwrap();
        let start = readme.find(marker).expect("README shows the example") + marker.len();
        let rest = &readme[start..];
        let example = rest[..rest.find("```").unwrap()]
            .split_once('\n')
            .unwrap()
            .1;
        assert_eq!(example.trim(), source.trim(), "{marker}");

        let report = check_plugin_with(&with_memory(wasm(file), memory), &schema()).unwrap();
        let rounded = report.samples.iter().all(|(_, outcome)| match outcome {
            ChainOutcome::Keep(record) => {
                matches!(record.get("price"), Some(FieldValue::Double(p)) if p.fract() == 0.0)
            }
            _ => false,
        });
        assert!(rounded, "{file}: {report}");
    }
}

/// `pipeline plugin new --lang python|js` writes the module and its test
/// (`plugin_templates` builds and runs them), never over an existing one.
#[test]
fn new_python_and_js_plugins_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    for (language, module) in [(Language::Python, "app.py"), (Language::Js, "index.js")] {
        let plugin = new_plugin_in(dir.path(), "my-filter", language).unwrap();
        assert!(plugin.ends_with(language.folder("my-filter")));
        assert!(plugin.join(module).exists() && plugin.join("test.sh").exists());
        assert!(
            new_plugin_in(dir.path(), "my-filter", language).is_err(),
            "never overwrites"
        );
    }
    assert!(new_plugin_in(dir.path(), "python", Language::Python).is_err());
}

/// The same through the binary: `plugin check --memory-limit-mib` on a
/// Python and a JavaScript component, `plugin new --lang`.
#[test]
fn the_cli_checks_and_scaffolds_python_and_js_plugins() {
    let pipeline = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(args)
            .current_dir(plugin_support::root())
            .output()
            .unwrap()
    };
    for file in ["cat5_discount_py", "cat5_discount_js"] {
        let path = wasm(file);
        let check = pipeline(&[
            "plugin",
            "check",
            path.to_str().unwrap(),
            "--memory-limit-mib",
            "32",
        ]);
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success(),
            "{file}: {stdout}{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(
            stdout.contains("cat5-discount@0.1.0#") && stdout.contains("-> keep"),
            "{stdout}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for (lang, file) in [
        ("python", "python/tidy-names/app.py"),
        ("js", "js/tidy-names/index.js"),
    ] {
        let made = pipeline(&[
            "plugin",
            "new",
            "tidy-names",
            "--lang",
            lang,
            "--dir",
            dir.path().to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&made.stdout);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        assert!(dir.path().join(file).exists(), "{file}");
        assert!(
            stdout.contains(&format!("scripts/build-plugins.sh {lang}/tidy-names")),
            "{stdout}"
        );
    }
}
