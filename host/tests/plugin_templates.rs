//! `pipeline plugin new --lang rust|python|js` writes a plugin with its own
//! test (`test.sh`, over `pipeline plugin check --records --expect`), and
//! each language's test is run here as its author would run it: it builds
//! the plugin with the pinned tools and passes as scaffolded, and fails once
//! the plugin does something else than expected.jsonl says.

mod plugin_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder laid out like this workspace (`wit/` beside `plugins/`), with a
/// workspace of its own for Rust plugins.
fn workspace() -> tempfile::TempDir {
    let root = plugin_support::root();
    let workspace = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(
        workspace.path().join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"plugins/*\"]\n\n\
         [workspace.package]\nedition = \"2024\"\nlicense = \"MIT\"\n\n\
         [profile.release]\nstrip = true\n",
    )
    .unwrap();
    // The workspace's lock: the build needs no registry.
    std::fs::copy(root.join("Cargo.lock"), workspace.path().join("Cargo.lock")).unwrap();
    std::fs::create_dir(workspace.path().join("wit")).unwrap();
    std::fs::copy(
        root.join("wit/transform.wit"),
        workspace.path().join("wit/transform.wit"),
    )
    .unwrap();
    workspace
}

/// `pipeline plugin new my-rule --lang LANG` in `workspace`'s plugins folder.
fn scaffold(workspace: &Path, lang: &str) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["plugin", "new", "my-rule", "--lang", lang, "--dir"])
        .arg(workspace.join("plugins"))
        .current_dir(plugin_support::root())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let dir = workspace.join("plugins").join(match lang {
        "rust" => "my-rule",
        "python" => "python/my-rule",
        _ => "js/my-rule",
    });
    for file in ["test.sh", "records.jsonl", "expected.jsonl"] {
        assert!(dir.join(file).exists(), "{lang}: no {file}");
    }
    dir
}

/// Runs the plugin's `test.sh` (with `args`) as its author would, with this
/// build's `pipeline` binary and target directory.
fn run_test(plugin: &Path, workspace: &Path, args: &[&str]) -> (Option<i32>, String) {
    let root = plugin_support::root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let output = Command::new(plugin.join("test.sh"))
        .args(args)
        .env("PIPELINE", env!("CARGO_BIN_EXE_pipeline"))
        .env("PIPELINE_ROOT", &root)
        .env("PLUGIN_OUT", workspace.join("wasm"))
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    (output.status.code(), text(&output))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn each_language_s_new_plugin_passes_its_own_test() {
    let workspace = workspace();
    for (lang, world) in [
        ("rust", "transform-batch"),
        ("python", "transform"),
        ("js", "transform"),
    ] {
        let plugin = scaffold(workspace.path(), lang);
        let (code, output) = run_test(&plugin, workspace.path(), &[]);
        assert_eq!(code, Some(0), "{lang}: {output}");
        assert!(
            output.contains("my-rule@0.1.0#") && output.contains(&format!("the `{world}` world")),
            "{lang}: {output}"
        );
        assert!(
            output.contains("5 kept, 0 dropped, 0 failed\nok\n"),
            "{lang}: {output}"
        );
    }
}

/// The test is a test: a plugin that drops what expected.jsonl says it
/// keeps fails it (exit 1, naming the record); `--write-expect` records the
/// new behaviour, and the test passes again.
#[test]
fn a_new_plugin_s_test_fails_when_the_plugin_changes_what_it_does() {
    let workspace = workspace();
    let plugin = scaffold(workspace.path(), "js");
    let source = plugin.join("index.js");
    let code = std::fs::read_to_string(&source).unwrap();
    let keep = r#"rows.map((row) => ({ tag: "keep", val: row }))"#;
    assert!(code.contains(keep), "the template changed: {code}");
    std::fs::write(
        &source,
        code.replace(
            keep,
            r#"rows.map(() => ({ tag: "drop", val: "not today" }))"#,
        ),
    )
    .unwrap();

    let (status, output) = run_test(&plugin, workspace.path(), &[]);
    assert_eq!(status, Some(1), "{output}");
    assert!(
        output.contains("record 1 (id=1)")
            && output.contains("-> drop: not today")
            && output.contains("!! expected keep {")
            && output.contains("FAILED: 5 records not as expected"),
        "{output}"
    );

    let (status, output) = run_test(&plugin, workspace.path(), &["--write-expect"]);
    assert_eq!(status, Some(0), "{output}");
    let expected = std::fs::read_to_string(plugin.join("expected.jsonl")).unwrap();
    assert_eq!(
        expected,
        "{\"drop\":\"not today\"}\n".repeat(5),
        "the outcomes as they are now"
    );
    let (status, output) = run_test(&plugin, workspace.path(), &[]);
    assert_eq!(status, Some(0), "{output}");
}
