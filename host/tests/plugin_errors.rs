//! A plugin's own error reaches its author: a Python exception, a
//! JavaScript error and a Rust panic are named, with where they were
//! raised, in `plugin check` (instead of a bare wasm trap), and
//! `pipeline plugin check` exits with a status a plugin's CI can use.

mod plugin_support;

use std::process::{Command, Output};

use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, check_plugin, check_plugin_with};
use plugin_support::{schema, wasm};

fn interpreted(file: &str) -> PluginConfig {
    PluginConfig {
        memory_limit_mib: 32,
        ..PluginConfig::at(wasm(file))
    }
}

/// The reason of every sample that failed, by id (samples count from 1).
fn failures(config: &PluginConfig) -> Vec<(usize, String)> {
    let report = check_plugin_with(config, &schema()).unwrap();
    report
        .samples
        .iter()
        .enumerate()
        .filter_map(|(index, (_, outcome))| match outcome {
            ChainOutcome::Failed(letter) => Some((index + 1, letter.reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_python_exception_is_named_with_its_file_and_line() {
    assert_eq!(
        failures(&interpreted("fixture_raises_py")),
        [2, 4].map(|id| (
            id,
            format!(
                "plugin fixture-raises trapped: ValueError: id {id} is even (app.py line 19, in check)"
            )
        ))
    );
}

#[test]
fn a_javascript_error_is_named_with_its_file_and_line() {
    assert_eq!(
        failures(&interpreted("fixture_throws_js")),
        [(
            3,
            "plugin fixture-throws trapped: id 3 is a multiple of 3 (index.js line 16, in check)"
                .to_owned()
        )]
    );
}

#[test]
fn a_rust_panic_is_named_with_its_message() {
    let error = check_plugin(&wasm("fixture_manifest_panic"), &schema())
        .map(drop)
        .expect_err("it panics in manifest()");
    assert!(
        error.to_string().contains(
            "manifest() failed: trapped: panicked at plugins/fixture-manifest-panic/src/lib.rs"
        ) && error
            .to_string()
            .contains("fixture-manifest-panic: no manifest today"),
        "{error}"
    );
}

fn pipeline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .current_dir(plugin_support::root())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// 0 when every record passes, 1 when one fails (or is dropped, with
/// `--expect-keep`), 2 when the plugin does not load; the help says so.
#[test]
fn plugin_check_exits_1_on_a_failing_record_and_2_on_a_plugin_that_does_not_load() {
    let check = |file: &str, extra: &[&str]| {
        let path = wasm(file);
        let mut args = vec!["plugin", "check", path.to_str().unwrap()];
        args.extend(extra);
        let output = pipeline(&args);
        (output.status.code(), text(&output))
    };
    let (code, output) = check("uppercase_category", &[]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.ends_with("ok\n"), "{output}");

    let (code, output) = check("fixture_raises_py", &["--memory-limit-mib", "32"]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("record 2 (id=2)")
            && output.contains("ValueError: id 2 is even (app.py line 19, in check)")
            && output.contains("FAILED: 2 records"),
        "{output}"
    );

    // price-filter drops the samples with a negative price.
    let (code, output) = check("price_filter", &[]);
    assert_eq!(code, Some(0), "{output}");
    let (code, output) = check("price_filter", &["--expect-keep"]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("dropped, and --expect-keep"), "{output}");

    let (code, output) = check("fixture_unknown_import", &[]);
    assert_eq!(code, Some(2), "{output}");

    let help = text(&pipeline(&["plugin", "check", "--help"]));
    assert!(
        help.contains("Exit status:") && help.contains("1  a record failed"),
        "{help}"
    );
}
