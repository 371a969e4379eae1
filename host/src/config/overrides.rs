//! Overrides on top of the configuration file: `section.key=value` from
//! `--set` flags and `PIPELINE__SECTION__KEY=value` environment variables.
//!
//! Values are parsed as TOML when they parse (numbers, booleans, arrays) and
//! taken as strings otherwise, so `--set topic.partitions=30` is a number and
//! `--set mysql.url=mysql://…` a string. librdkafka keys contain dots, so
//! everything after `kafka.` is one key: `--set kafka.security.protocol=SASL_SSL`.

use crate::error::{Error, Result};

const ENV_PREFIX: &str = "PIPELINE__";

/// Applies one `path=value` override to the document.
pub fn apply_override(document: &mut toml::Table, assignment: &str, origin: &str) -> Result<()> {
    let (path, raw_value) = assignment.split_once('=').ok_or_else(|| {
        Error::config(
            origin,
            format!("`{assignment}` is not of the form section.key=value"),
        )
    })?;
    let keys = split_path(path.trim());
    if keys.iter().any(|key| key.is_empty()) {
        return Err(Error::config(
            origin,
            format!("`{path}` is not a valid key path"),
        ));
    }
    let value = parse_value(raw_value.trim());
    let (last, parents) = keys
        .split_last()
        .expect("split_path returns at least one key");
    let mut table = document;
    for key in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| Error::config(origin, format!("`{path}`: `{key}` is not a section")))?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

/// Applies every `PIPELINE__A__B=value` variable as the override `a.b=value`.
pub fn apply_env_overrides(
    document: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<()> {
    let mut overrides: Vec<_> = vars
        .into_iter()
        .filter_map(|(name, value)| {
            let path = name.strip_prefix(ENV_PREFIX)?;
            let path = path
                .split("__")
                .map(|part| part.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            Some((name, path, value))
        })
        .collect();
    overrides.sort();
    for (name, path, value) in overrides {
        apply_override(
            document,
            &format!("{path}={value}"),
            &format!("environment variable {name}"),
        )?;
    }
    Ok(())
}

fn split_path(path: &str) -> Vec<String> {
    match path.split_once('.') {
        Some(("kafka", rest)) => vec!["kafka".into(), rest.into()],
        _ => path.split('.').map(str::to_owned).collect(),
    }
}

fn parse_value(raw: &str) -> toml::Value {
    format!("value = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}
