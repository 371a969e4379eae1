//! `pipeline plugin new --lang rust|python|js` writes a plugin with its own
//! test (`test.sh`, over `pipeline plugin check --records --expect`), and
//! each language's test is run here as its author would run it: it builds
//! the plugin with the pinned tools and passes as scaffolded, and fails when
//! an outcome is not the one expected.jsonl says.

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
fn each_language_s_new_plugin_passes_its_own_test_which_fails_on_a_wrong_outcome() {
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
        if lang == "js" {
            check_the_test_fails_on_a_wrong_expectation(&plugin, workspace.path());
        }
    }
}

/// The test is a test: an expected outcome the plugin does not give fails
/// it (exit 1, naming the record), and `--write-expect` writes what the
/// plugin does. (The expectation changes rather than the plugin: the
/// comparison is the same, and a changed component would be compiled again.)
fn check_the_test_fails_on_a_wrong_expectation(plugin: &Path, workspace: &Path) {
    let expect = plugin.join("expected.jsonl");
    let scaffolded = std::fs::read_to_string(&expect).unwrap();
    assert!(scaffolded.contains("\"name_3\""), "{scaffolded}");
    std::fs::write(&expect, scaffolded.replace("\"name_3\"", "\"renamed\"")).unwrap();
    let (status, output) = run_test(plugin, workspace, &[]);
    assert_eq!(status, Some(1), "{output}");
    assert!(
        output.contains("record 3 (id=3)")
            && output.contains("!! expected keep {\"id\":3,\"name\":\"renamed\"")
            && output.contains("FAILED: 1 record not as expected"),
        "{output}"
    );
    let (status, output) = run_test(plugin, workspace, &["--write-expect"]);
    assert_eq!(status, Some(0), "{output}");
    assert_eq!(std::fs::read_to_string(&expect).unwrap(), scaffolded);
    let (status, output) = run_test(plugin, workspace, &[]);
    assert_eq!(status, Some(0), "{output}");
}
