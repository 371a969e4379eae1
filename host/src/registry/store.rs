//! Durable storage: a snapshot file plus a journal of changes beside it.
//!
//! The one rule: **a change is acknowledged only after it is on disk, and
//! what is on disk is a snapshot followed by whole, idempotent changes**.
//! A write appends one JSON line to `<storage_file>.journal` (the subjects
//! it touched, in full, and any new schema) and fsyncs it, so it costs in
//! proportion to what it changes, not to the whole registry. When the journal
//! grows past the snapshot (and 1 MiB), the state is compacted: the snapshot
//! is rewritten (temp file, fsync, rename, directory fsync) and the journal
//! emptied, which keeps the amortised cost of a write within about twice its
//! own size. Every journal line sets values rather than adjusting them, so
//! replaying one that the snapshot already holds (a crash between the rename
//! and the truncation) changes nothing. A line cut short by a crash was never
//! acknowledged and is dropped at load; a complete line that does not parse
//! is corruption and stops the registry with the file's name.
//!
//! Why a file and not a `_schemas` Kafka topic like Confluent's: the registry
//! must be up before the broker (the producer registers its schema first
//! thing), and one instance is all this pipeline runs. Running several
//! instances would need a shared log: a compacted `_schemas` topic with a
//! single elected writer is the upgrade path.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::write_atomically;

use super::compatibility::CompatibilityLevel;
use super::state::{RegistryState, StoredSchema, Subject};

/// The journal is compacted once it is larger than the snapshot and this.
const COMPACT_AFTER_BYTES: u64 = 1024 * 1024;

/// One acknowledged write: the new values of what it touched.
#[derive(Debug, Serialize, Deserialize)]
struct Change {
    /// A subject's whole new entry, or `None` when it was removed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    subjects: BTreeMap<String, Option<Subject>>,
    /// Schemas new in this write.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    schemas: BTreeMap<u32, StoredSchema>,
    next_id: u32,
    global_compatibility: CompatibilityLevel,
}

impl Change {
    fn between(previous: &RegistryState, next: &RegistryState) -> Self {
        let mut subjects = BTreeMap::new();
        for (name, subject) in &next.subjects {
            if previous.subjects.get(name) != Some(subject) {
                subjects.insert(name.clone(), Some(subject.clone()));
            }
        }
        for name in previous.subjects.keys() {
            if !next.subjects.contains_key(name) {
                subjects.insert(name.clone(), None);
            }
        }
        let schemas = next
            .schemas
            .iter()
            .filter(|(id, stored)| previous.schemas.get(id) != Some(stored))
            .map(|(id, stored)| (*id, stored.clone()))
            .collect();
        Self {
            subjects,
            schemas,
            next_id: next.next_id,
            global_compatibility: next.global_compatibility,
        }
    }

    fn apply(self, state: &mut RegistryState) {
        for (name, subject) in self.subjects {
            match subject {
                Some(subject) => {
                    state.subjects.insert(name, subject);
                }
                None => {
                    state.subjects.remove(&name);
                }
            }
        }
        state.schemas.extend(self.schemas);
        state.next_id = self.next_id;
        state.global_compatibility = self.global_compatibility;
    }
}

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

    fn journal_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    }

    fn directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Reads the snapshot and replays the journal; absent files are an
    /// empty registry. A torn last journal line is cut off.
    pub fn load(&self) -> Result<RegistryState> {
        let mut state = match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                Error::Registry(format!(
                    "storage file {} is corrupt: {error}",
                    self.path.display()
                ))
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => RegistryState::default(),
            Err(error) => return Err(Error::io(&self.path, error)),
        };
        let journal_path = self.journal_path();
        let mut journal = match OpenOptions::new()
            .read(true)
            .write(true)
            .open(&journal_path)
        {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(error) => return Err(Error::io(&journal_path, error)),
        };
        let mut bytes = Vec::new();
        journal
            .read_to_end(&mut bytes)
            .map_err(|error| Error::io(&journal_path, error))?;
        let complete = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |end| end + 1);
        for (number, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let change: Change = serde_json::from_slice(line).map_err(|error| {
                Error::Registry(format!(
                    "journal {} line {} is corrupt: {error}",
                    journal_path.display(),
                    number + 1
                ))
            })?;
            change.apply(&mut state);
        }
        if complete < bytes.len() {
            tracing::warn!(journal = %journal_path.display(), bytes = bytes.len() - complete, "dropping a torn last journal line (a write that was never acknowledged)");
            journal
                .set_len(complete as u64)
                .and_then(|()| journal.sync_all())
                .map_err(|error| Error::io(&journal_path, error))?;
        }
        Ok(state)
    }

    /// Makes `next` durable, `previous` being what is on disk now: appends
    /// the change between them, compacting when the journal has grown.
    pub fn save(&self, previous: &RegistryState, next: &RegistryState) -> Result<()> {
        let change = Self::change_line(previous, next)?;
        self.append(&change, next)
    }

    /// The journal line taking `previous` to `next` (computed where both are
    /// at hand; [`Store::append`] then runs on a blocking thread).
    pub fn change_line(previous: &RegistryState, next: &RegistryState) -> Result<Vec<u8>> {
        let mut line = serde_json::to_vec(&Change::between(previous, next))?;
        line.push(b'\n');
        Ok(line)
    }

    /// Appends `line` (from [`Store::change_line`]) and fsyncs it; compacts to
    /// `next` when the journal has outgrown the snapshot.
    pub fn append(&self, line: &[u8], next: &RegistryState) -> Result<()> {
        let directory = self.directory();
        fs::create_dir_all(&directory).map_err(|error| Error::io(&directory, error))?;
        let journal_path = self.journal_path();
        let append = || -> std::io::Result<(u64, bool)> {
            let existed = journal_path.exists();
            let mut journal = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&journal_path)?;
            journal.write_all(line)?;
            journal.sync_data()?;
            Ok((journal.metadata()?.len(), existed))
        };
        let (journal_len, existed) = append().map_err(|error| Error::io(&journal_path, error))?;
        if !existed {
            sync_directory(&directory)?;
        }
        let snapshot_len = fs::metadata(&self.path).map_or(0, |metadata| metadata.len());
        if journal_len > snapshot_len.max(COMPACT_AFTER_BYTES) {
            self.compact(next)?;
        }
        Ok(())
    }

    /// Rewrites the snapshot as `state` and empties the journal.
    pub fn compact(&self, state: &RegistryState) -> Result<()> {
        let directory = self.directory();
        fs::create_dir_all(&directory).map_err(|error| Error::io(&directory, error))?;
        write_atomically(&self.path, &serde_json::to_vec_pretty(state)?)?;
        // Replaying the old journal over the new snapshot would change
        // nothing, so a crash before this line is harmless.
        let journal_path = self.journal_path();
        match OpenOptions::new().write(true).open(&journal_path) {
            Ok(journal) => journal
                .set_len(0)
                .and_then(|()| journal.sync_all())
                .map_err(|error| Error::io(&journal_path, error)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(Error::io(&journal_path, error)),
        }
    }
}

fn sync_directory(directory: &Path) -> Result<()> {
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| Error::io(directory, error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::state::ParsedSchema;

    fn schema(fields: &str) -> ParsedSchema {
        ParsedSchema::parse(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_missing_file_is_an_empty_registry_and_saves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("nested/registry.json"));
        let state = store.load().unwrap();
        assert!(state.subjects.is_empty());
        let mut next = state.clone();
        next.next_id = 7;
        store.save(&state, &next).unwrap();
        assert_eq!(store.load().unwrap().next_id, 7);
        store.compact(&next).unwrap();
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

    #[test]
    fn a_write_appends_only_what_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("registry.json"));
        let mut live = RegistryState::default();
        // Many subjects, each with a schema: a sizeable state.
        for n in 0..200 {
            let mut next = live.clone();
            next.register(
                &format!("subject-{n}"),
                &schema(&format!(r#"{{"name":"f{n}","type":"int"}}"#)),
            )
            .unwrap();
            store.save(&live, &next).unwrap();
            live = next;
        }
        let journal = dir.path().join("registry.json.journal");
        let before = fs::metadata(&journal).unwrap().len();
        let mut next = live.clone();
        next.register(
            "subject-7",
            &schema(r#"{"name":"f7","type":"int"},{"name":"g","type":"int","default":0}"#),
        )
        .unwrap();
        store.save(&live, &next).unwrap();
        let appended = fs::metadata(&journal).unwrap().len() - before;
        assert!(
            appended < 1024,
            "one registration appended {appended} bytes"
        );
        let loaded = store.load().unwrap();
        assert_eq!(loaded.subjects, next.subjects);
        assert_eq!(loaded.next_id, next.next_id);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_replay_over_a_compacted_snapshot_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("registry.json"));
        let empty = RegistryState::default();
        let mut one = empty.clone();
        one.register("s", &schema(r#"{"name":"a","type":"int"}"#))
            .unwrap();
        store.save(&empty, &one).unwrap();
        let journal = dir.path().join("registry.json.journal");
        let kept = fs::read(&journal).unwrap();
        // The snapshot already holds the change; the journal replays it again.
        store.compact(&one).unwrap();
        fs::write(&journal, &kept).unwrap();
        let mut torn = kept.clone();
        torn.extend_from_slice(br#"{"subjects":{"t":"#);
        fs::write(&journal, &torn).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.subjects, one.subjects);
        assert_eq!(
            fs::read(&journal).unwrap(),
            kept,
            "the torn tail is cut off"
        );
        // A complete line that does not parse is corruption.
        fs::write(&journal, b"{not json}\n").unwrap();
        let error = store.load().unwrap_err().to_string();
        assert!(error.contains("journal"), "{error}");
    }
}
