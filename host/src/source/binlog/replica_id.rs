//! The replica server id the producer registers with.
//!
//! The rule: **two deployments never share a replica id unless configured
//! to**, because the server disconnects a replica when another registers
//! with the same id (two producers would cut each other off in turn). An id
//! derived from the process id is the same in every container (pid 1), so
//! with `source.server_id = 0` the id is drawn at random once and kept
//! beside the position file (`<position file>.server_id`): the same
//! deployment keeps its id across restarts (a restart then replaces its own
//! stale connection rather than adding one).

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::write_atomically;

/// Drawn ids lie here: above the small ids servers are usually given.
const DRAWN: std::ops::Range<u32> = 1_000_000_000..4_000_000_000;

/// The file that keeps a drawn id: `<position file>.server_id`.
pub fn id_file(position_file: &Path) -> PathBuf {
    let mut name = position_file.as_os_str().to_owned();
    name.push(".server_id");
    PathBuf::from(name)
}

/// The replica id: `configured` unless 0, else the one kept beside
/// `position_file`, drawn and saved on first use.
pub fn server_id(configured: u32, position_file: &Path) -> Result<u32> {
    if configured != 0 {
        return Ok(configured);
    }
    let path = id_file(position_file);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|id| *id != 0)
            .ok_or_else(|| Error::Position {
                path: path.clone(),
                message: format!(
                    "holds {:?}, not a replica server id: delete it to draw a new one, or set source.server_id",
                    text.trim()
                ),
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = draw();
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|error| Error::io(dir, error))?;
            }
            write_atomically(&path, format!("{id}\n").as_bytes())?;
            tracing::info!(server_id = id, file = %path.display(), "drew a replica server id (source.server_id = 0)");
            Ok(id)
        }
        Err(error) => Err(Error::io(&path, error)),
    }
}

/// A random id in [`DRAWN`]: std's hasher keys are random per process.
fn draw() -> u32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    let span = u64::from(DRAWN.end - DRAWN.start);
    DRAWN.start + (hasher.finish() % span) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_id_is_kept_per_deployment_and_differs_between_deployments() {
        let one = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let at = |dir: &tempfile::TempDir| dir.path().join("time_track/binlog_position.json");
        let first = server_id(0, &at(&one)).unwrap();
        assert!(DRAWN.contains(&first), "{first}");
        assert_ne!(first, 1_000_000 + std::process::id() % 1_000_000);
        assert_eq!(
            server_id(0, &at(&one)).unwrap(),
            first,
            "kept across restarts"
        );
        assert_ne!(
            server_id(0, &at(&other)).unwrap(),
            first,
            "another deployment draws its own"
        );
        assert_eq!(
            server_id(42, &at(&one)).unwrap(),
            42,
            "a configured id wins"
        );
        std::fs::write(id_file(&at(&one)), "x").unwrap();
        let error = server_id(0, &at(&one)).unwrap_err();
        assert!(error.to_string().contains("source.server_id"), "{error}");
    }
}
