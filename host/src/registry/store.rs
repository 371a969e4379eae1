//! Durable storage: one JSON file, replaced atomically on every change.
//!
//! Why a file and not a `_schemas` Kafka topic like Confluent's: the registry
//! must be up before the broker (the producer registers its schema first
//! thing), and one instance is all this pipeline runs. A write goes to a temp
//! file in the same directory, is fsynced, renamed over the old file, and the
//! directory is fsynced, so a crash leaves either the old or the new state,
//! never a torn one, and ids/versions survive restarts unchanged. Running
//! several instances would need a shared log: a compacted `_schemas` topic
//! with a single elected writer is the upgrade path.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::write_atomically;

use super::state::RegistryState;

/// Where the registry's state lives on disk.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the saved state; an absent file is an empty registry.
    pub fn load(&self) -> Result<RegistryState> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                Error::Registry(format!(
                    "storage file {} is corrupt: {error}",
                    self.path.display()
                ))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(RegistryState::default())
            }
            Err(error) => Err(Error::io(&self.path, error)),
        }
    }

    /// Replaces the saved state with `state`, atomically and durably.
    pub fn save(&self, state: &RegistryState) -> Result<()> {
        write_atomically(&self.path, &serde_json::to_vec_pretty(state)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_an_empty_registry_and_saves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("nested/registry.json"));
        let mut state = store.load().unwrap();
        assert!(state.subjects.is_empty());
        state.next_id = 7;
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap().next_id, 7);
        assert!(!dir.path().join("nested/.registry.json.tmp").exists());
    }

    #[test]
    fn a_corrupt_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        fs::write(&path, "{not json").unwrap();
        let error = Store::new(&path).load().unwrap_err().to_string();
        assert!(error.contains("registry.json"), "{error}");
    }
}
