//! One deployment isolated from every other on the same services: the tests
//! and the bench each run many side by side (or one after another) against
//! the same MariaDB and broker.
//!
//! The rule that keeps them apart: everything a deployment writes is named
//! after it or lives under its own directory (topic, consumer group, saved
//! position, logs, dead letters, progress, registry storage), and its
//! processes read the configuration file written here, rendered from the
//! typed [`Config`], never a hand-formatted copy of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Config, DeadLetterConfig};
use crate::error::{Error, Result};

/// A configuration that shares nothing writable with another deployment,
/// and the file it is written to.
#[derive(Debug, Clone)]
pub struct IsolatedDeployment {
    pub config: Config,
    /// Where its files live.
    pub dir: PathBuf,
    /// `<dir>/pipeline.toml`, what its processes get as `--config`.
    pub config_file: PathBuf,
}

impl IsolatedDeployment {
    /// `base` with its topic and consumer group suffixed by `unique` and
    /// every file under `dir` (created if missing); writes the config file.
    pub fn new(base: &Config, dir: &Path, unique: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|error| Error::io(dir, error))?;
        let mut config = base.clone();
        config.topic.name = format!("{}_{unique}", base.topic.name);
        // Every further table's topic and position file is its own too.
        config.topic.name_pattern = format!("{}_{unique}", base.topic.name_pattern);
        for table in &mut config.source.tables {
            if let Some(topic) = &mut table.topic {
                *topic = format!("{topic}_{unique}");
            }
            table.position_file = None;
        }
        config.consumer.group_id = format!("{}_{unique}", base.consumer.group_id);
        config.consumer.log_dir = dir.join("consumer_logs");
        config.source.position_file = dir.join("time_track/last_read_timestamp.json");
        config.source.binlog_position_file = dir.join("time_track/binlog_position.json");
        config.dead_letter = DeadLetterConfig::File {
            dir: dir.join("dead_letters"),
        };
        config.registry.storage_file = dir.join("registry.json");
        config.run.dir = dir.join("run");
        let deployment = Self {
            config,
            dir: dir.to_path_buf(),
            config_file: dir.join("pipeline.toml"),
        };
        deployment.write_config()?;
        Ok(deployment)
    }

    /// Writes `config` to the config file again (after changing it).
    pub fn write_config(&self) -> Result<()> {
        let text = toml::to_string_pretty(&self.config).map_err(|error| {
            Error::config(self.config_file.display().to_string(), error.to_string())
        })?;
        std::fs::write(&self.config_file, text).map_err(|error| Error::io(&self.config_file, error))
    }

    /// Whether `members` members report progress and each owns at least
    /// `per_member` partitions (the group has formed and balanced).
    pub fn group_formed(&self, members: u32, per_member: usize) -> bool {
        let progress = crate::progress::progress_dir(&self.config.run.dir);
        let owned: Vec<usize> = crate::progress::read_all(&progress)
            .into_iter()
            .filter_map(|(_, snapshot)| match snapshot {
                crate::progress::Snapshot::Consumer { partitions, .. } => Some(partitions.len()),
                _ => None,
            })
            .collect();
        owned.len() == members as usize && owned.iter().all(|&count| count >= per_member)
    }

    /// `<program> --config <config file> <args>`: `program` is the
    /// `pipeline` binary, or one that takes the same `--config`.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.arg("--config").arg(&self.config_file).args(args);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_deployments_share_nothing_writable_and_their_file_loads_back() {
        let root = tempfile::tempdir().unwrap();
        let base = Config::default();
        let a = IsolatedDeployment::new(&base, &root.path().join("a"), "a").unwrap();
        let b = IsolatedDeployment::new(&base, &root.path().join("b"), "b").unwrap();
        assert_ne!(a.config.topic.name, b.config.topic.name);
        assert_ne!(a.config.consumer.group_id, b.config.consumer.group_id);
        for deployment in [&a, &b] {
            let config = &deployment.config;
            for path in [
                &config.consumer.log_dir,
                &config.source.position_file,
                &config.registry.storage_file,
                &config.run.dir,
            ] {
                assert!(path.starts_with(&deployment.dir), "{}", path.display());
            }
            let loaded = Config::load(Some(&deployment.config_file), &[]).unwrap();
            assert_eq!(loaded.topic.name, config.topic.name);
            assert_eq!(loaded.source.position_file, config.source.position_file);
        }
    }
}
