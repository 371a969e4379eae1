//! `compose.yaml` cannot run here (no Docker engine), so it is checked
//! statically: every service the deployment needs is there, the pipeline
//! services run real subcommands of the real binary with arguments it
//! accepts, their environment overrides are valid configuration keys, and
//! the volumes keep positions and logs.

mod common;

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(common::workspace_root().join("compose.yaml")).unwrap();
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    value
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_has_every_service_of_the_deployment() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<_> = services.keys().filter_map(|k| k.as_str()).collect();
    for needed in [
        "mysql",
        "kafka",
        "registry",
        "updater",
        "producer",
        "consumer_1",
        "consumer_2",
        "consumer_3",
        "consumer_4",
        "consumer_5",
    ] {
        assert!(
            names.contains(&needed),
            "compose.yaml lacks service {needed}: {names:?}"
        );
    }
    let kafka_roles = compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
        .as_str()
        .unwrap();
    assert!(
        kafka_roles.contains("controller"),
        "the broker runs in KRaft mode"
    );
    assert!(common::workspace_root().join("Dockerfile").exists());
}

/// The compose broker is the Apache Kafka release the scripts and the tests
/// run (scripts/kafka/pom.xml), so what the suite proves holds there.
#[test]
fn compose_runs_the_kafka_release_the_tests_run() {
    let compose = compose();
    let image = compose["services"]["kafka"]["image"].as_str().unwrap();
    let pom =
        std::fs::read_to_string(common::workspace_root().join("scripts/kafka/pom.xml")).unwrap();
    let pinned = pom
        .lines()
        .find_map(|line| {
            line.split("<artifactId>kafka_2.13</artifactId><version>")
                .nth(1)?
                .split('<')
                .next()
        })
        .expect("scripts/kafka/pom.xml pins kafka_2.13");
    assert_eq!(image, format!("apache/kafka:{pinned}"));
}

#[test]
fn pipeline_services_run_real_subcommands_with_valid_config() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if service["build"].as_str() != Some(".") {
            continue;
        }
        let command = strings(&service["command"]);
        assert!(!command.is_empty(), "{name} has no command");
        // The real binary must accept the arguments (clap rejects unknown ones).
        let mut args = command.clone();
        args.push("--help".into());
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: `pipeline {}` is not a valid command line: {}",
            command.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );

        let environment: BTreeMap<String, String> = service["environment"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().unwrap().to_owned(),
                            v.as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut document = toml::Table::new();
        pipeline::config::apply_env_overrides(&mut document, environment.clone()).unwrap();
        let config: Result<pipeline::config::Config, _> = toml::Value::Table(document).try_into();
        assert!(
            config.is_ok(),
            "{name}: environment {environment:?} is not valid configuration: {config:?}"
        );

        let volumes = strings(&service["volumes"]);
        if let Some(member) = name.strip_prefix("consumer_") {
            assert_eq!(command, ["consume", "--member", member]);
            assert!(
                volumes.iter().any(|v| v.ends_with(":/app/consumer_logs")),
                "{name} keeps its log in the shared volume"
            );
        }
        if name == "producer" {
            assert!(
                volumes.iter().any(|v| v.ends_with(":/app/time_track")),
                "the producer's position survives a restart"
            );
        }
    }
}
