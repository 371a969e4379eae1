//! A plugin's own error in a real member's dead letters (real MariaDB,
//! broker and registry, the pipeline as separate processes): a Python
//! exception and a JavaScript error are named with the file and line they
//! were raised at, with the plugin's name and version and the record's key.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Harness;
use pipeline::config::PluginConfig;

/// README: a Python or JavaScript component needs this much memory.
const INTERPRETED_MEMORY_MIB: u64 = 32;

#[tokio::test(flavor = "multi_thread")]
async fn a_member_s_dead_letters_name_the_python_and_javascript_errors() {
    let root = common::workspace_root();
    let status = Command::new(root.join("scripts/build-plugins.sh"))
        .args(["python/fixture-raises", "js/fixture-throws"])
        .status()
        .unwrap();
    assert!(status.success(), "building the fixtures failed");
    let mut harness = Harness::new("errors_member", "");
    // After the seed chain: Python fails the even ids, JavaScript the odd
    // multiples of 3.
    harness.reconfigure(|config| {
        for file in ["fixture_raises_py", "fixture_throws_js"] {
            config.plugins.push(PluginConfig {
                memory_limit_mib: INTERPRETED_MEMORY_MIB,
                ..PluginConfig::at(root.join(format!("plugins/wasm/{file}.wasm")))
            });
        }
    });
    let _pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(1);
    harness.spawn("producer", &["produce"]);
    harness.run(&["update", "--count", "0"]);

    let failing: Vec<i64> = (1..=50).filter(|id| id % 2 == 0 || id % 3 == 0).collect();
    // A cold compilation cache compiles both interpreters in a debug build.
    harness.wait_for_lines(50 - failing.len(), Duration::from_secs(600));
    let file = harness.path("dead_letters/consumer_1/dead_letters.json");
    common::wait_until(Duration::from_secs(60), "the dead letters", || {
        std::fs::read_to_string(&file).is_ok_and(|text| text.lines().count() >= failing.len())
    });
    let mut letters: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    letters.sort_by_key(|letter| letter["record_key"].as_i64());
    let ids: Vec<i64> = letters
        .iter()
        .map(|letter| letter["record_key"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, failing, "each failing record once, with its key");
    for letter in &letters {
        let id = letter["record_key"].as_i64().unwrap();
        let (plugin, reason) = if id % 2 == 0 {
            (
                "fixture-raises",
                format!(
                    "plugin fixture-raises trapped: ValueError: id {id} is even (app.py line 19, in check)"
                ),
            )
        } else {
            (
                "fixture-throws",
                format!(
                    "plugin fixture-throws trapped: id {id} is a multiple of 3 (index.js line 16, in check)"
                ),
            )
        };
        assert_eq!(letter["stage"], plugin, "{letter}");
        assert!(
            letter["version"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{plugin}@0.1.0#")),
            "{letter}"
        );
        assert_eq!(letter["reason"], reason.as_str(), "{letter}");
    }
}
