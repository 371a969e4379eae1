//! Which topics, on which cluster, the consumer logs were written from.
//!
//! The logs say where each partition resumes and which offsets are already
//! written, by topic, partition and offset; lines written before they
//! carried their topic say partition and offset only, and belong to the
//! first table's topic. Read against another topic, or the same name on
//! another cluster, they would make a member skip every record below the
//! old offsets as "already written". The rule: **a member resumes over the
//! logs only when `<log_dir>/identity.json` names, as its first topic, the
//! first topic it reads, and the cluster it is connected to** (recorded by
//! the first member that writes there). Topics of tables added later are
//! added to `topics`; their lines carry their topic, so they cannot be
//! mistaken for another's. A topic deleted and recreated under the same name is caught
//! per partition instead (see `ownership::check_not_recreated`).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The topic and cluster the logs belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogIdentity {
    /// The first table's topic: lines without a `topic` are of it.
    pub topic: String,
    /// The other tables' topics (`[[source.tables]]`), as members have read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// The broker's cluster id; `None` where the broker gives none.
    pub cluster_id: Option<String>,
}

impl LogIdentity {
    /// `<log_dir>/identity.json`.
    pub fn path(log_dir: &Path) -> PathBuf {
        log_dir.join("identity.json")
    }

    /// Checks the logs under `log_dir` against `self`, recording `self`
    /// there when nothing is recorded yet. Refuses logs of another topic or
    /// cluster with the way out.
    pub fn check_or_record(&self, log_dir: &Path) -> Result<()> {
        let path = Self::path(log_dir);
        match fs::read(&path) {
            Ok(bytes) => {
                let recorded: LogIdentity =
                    serde_json::from_slice(&bytes).map_err(|error| Error::ForeignLogs {
                        path: path.clone(),
                        message: format!(
                            "not an identity document ({error}); restore it, or delete it to \
                             adopt the logs for topic `{}`",
                            self.topic
                        ),
                    })?;
                self.compare(&recorded, log_dir)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => self.record(log_dir),
            Err(error) => Err(Error::io(&path, error)),
        }
    }

    fn compare(&self, recorded: &LogIdentity, log_dir: &Path) -> Result<()> {
        let same_cluster = match (&recorded.cluster_id, &self.cluster_id) {
            (Some(before), Some(now)) => before == now,
            // A broker that gives no id cannot be told apart by it.
            _ => true,
        };
        if recorded.topic == self.topic && same_cluster {
            let added: Vec<&String> = self
                .topics
                .iter()
                .filter(|topic| !recorded.topics.contains(topic))
                .collect();
            if added.is_empty() {
                return Ok(());
            }
            let mut union = recorded.clone();
            union.topics.extend(added.into_iter().cloned());
            return union.record(log_dir);
        }
        let describe = |identity: &LogIdentity| match &identity.cluster_id {
            Some(id) => format!("topic `{}` on cluster {id}", identity.topic),
            None => format!("topic `{}`", identity.topic),
        };
        Err(Error::ForeignLogs {
            path: log_dir.to_owned(),
            message: format!(
                "they were written from {}, and this member reads {}. Resuming over them \
                 would skip the new topic's records as already written. To start over, move \
                 {} aside (the members write new logs); if the logs really belong to this \
                 topic, delete {} to adopt them",
                describe(recorded),
                describe(self),
                log_dir.display(),
                Self::path(log_dir).display()
            ),
        })
    }

    /// Writes the identity atomically (a temporary file renamed over it).
    fn record(&self, log_dir: &Path) -> Result<()> {
        fs::create_dir_all(log_dir).map_err(|error| Error::io(log_dir, error))?;
        let path = Self::path(log_dir);
        let temporary = log_dir.join(format!(".identity.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(self)?;
        fs::write(&temporary, text).map_err(|error| Error::io(&temporary, error))?;
        fs::rename(&temporary, &path).map_err(|error| Error::io(&path, error))?;
        tracing::info!(identity = %path.display(), topic = self.topic, topics = ?self.topics, cluster = ?self.cluster_id, "recorded which topic the consumer logs belong to");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(topic: &str, cluster: Option<&str>) -> LogIdentity {
        LogIdentity {
            topic: topic.into(),
            topics: Vec::new(),
            cluster_id: cluster.map(str::to_owned),
        }
    }

    #[test]
    fn the_first_member_records_and_the_same_topic_passes() {
        let dir = tempfile::tempdir().unwrap();
        identity("t", Some("c1"))
            .check_or_record(dir.path())
            .unwrap();
        identity("t", Some("c1"))
            .check_or_record(dir.path())
            .unwrap();
        identity("t", None).check_or_record(dir.path()).unwrap();
    }

    #[test]
    fn tables_added_later_are_recorded_and_the_first_topic_decides() {
        let dir = tempfile::tempdir().unwrap();
        identity("t", Some("c1"))
            .check_or_record(dir.path())
            .unwrap();
        let more = LogIdentity {
            topics: vec!["u".into()],
            ..identity("t", Some("c1"))
        };
        more.check_or_record(dir.path()).unwrap();
        let recorded: LogIdentity =
            serde_json::from_slice(&fs::read(LogIdentity::path(dir.path())).unwrap()).unwrap();
        assert_eq!(recorded, more);
        // A member configured with fewer tables still reads the first one's.
        identity("t", Some("c1"))
            .check_or_record(dir.path())
            .unwrap();
        let swapped = LogIdentity {
            topics: vec!["t".into()],
            ..identity("u", Some("c1"))
        };
        assert!(swapped.check_or_record(dir.path()).is_err());
    }

    #[test]
    fn another_topic_or_cluster_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        identity("t", Some("c1"))
            .check_or_record(dir.path())
            .unwrap();
        for other in [identity("u", Some("c1")), identity("t", Some("c2"))] {
            let message = other.check_or_record(dir.path()).unwrap_err().to_string();
            assert!(
                message.contains("move") && message.contains("identity.json"),
                "{message}"
            );
        }
    }
}
