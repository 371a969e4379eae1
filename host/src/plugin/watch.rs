//! The hot-swap watcher: a thread per chain that notices changed plugin files
//! and compiles them off the hot path.
//!
//! Every [`POLL`] it compares each file's length and modification time with
//! the last seen; on a change it hashes the contents, and only a new hash is
//! compiled. A compiled version is handed to the chain through a channel and
//! installed by [`super::PluginChain::swap_in_ready`] between two batches, so
//! every record is processed by exactly one version. A file that does not
//! compile (a corrupt file, or one still being written in place) is logged
//! and skipped; the running version stays, and the next change is looked at
//! again (a file written in place changes length or time when complete).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::loaded::{Loaded, content_hash};
use crate::config::PluginConfig;

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_millis(250);

/// A new version, compiled and instantiated, for the plugin at `index`.
pub struct Ready {
    pub index: usize,
    pub plugin: Loaded,
}

/// The watcher thread; stopped and joined on drop.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    ready: Receiver<Ready>,
    rejected: Arc<AtomicU64>,
}

struct WatchedFile {
    config: PluginConfig,
    seen: Option<(u64, Option<SystemTime>)>,
    hash: String,
}

impl Watcher {
    /// Watches `plugins`, whose running versions have the content `hashes`.
    pub fn start(plugins: Vec<(PluginConfig, String)>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let rejected = Arc::new(AtomicU64::new(0));
        let (sender, ready) = mpsc::channel();
        let mut files: Vec<WatchedFile> = plugins
            .into_iter()
            .map(|(config, hash)| WatchedFile {
                seen: file_stamp(&config.path),
                config,
                hash,
            })
            .collect();
        let thread = {
            let stop = Arc::clone(&stop);
            let rejected = Arc::clone(&rejected);
            std::thread::Builder::new()
                .name("plugin-watch".into())
                .spawn(move || watch(&mut files, &sender, &stop, &rejected))?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
            ready,
            rejected,
        })
    }

    /// The versions compiled since the last call.
    pub fn take_ready(&self) -> Vec<Ready> {
        self.ready.try_iter().collect()
    }

    /// Counts a version refused after compiling (by the chain's validation).
    pub fn note_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// How many changed files were refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(
    files: &mut [WatchedFile],
    sender: &Sender<Ready>,
    stop: &AtomicBool,
    rejected: &AtomicU64,
) {
    let step = Duration::from_millis(25);
    loop {
        for _ in 0..(POLL.as_millis() / step.as_millis()) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(step);
        }
        for (index, file) in files.iter_mut().enumerate() {
            if let Some(plugin) = check(file, rejected)
                && sender.send(Ready { index, plugin }).is_err()
            {
                return; // the chain is gone
            }
        }
    }
}

/// A new version of `file`, if it changed and compiles.
fn check(file: &mut WatchedFile, rejected: &AtomicU64) -> Option<Loaded> {
    let stamp = file_stamp(&file.config.path);
    if stamp.is_none() || stamp == file.seen {
        return None; // unchanged, or missing for a moment during a rename
    }
    file.seen = stamp;
    let bytes = match std::fs::read(&file.config.path) {
        Ok(bytes) => bytes,
        Err(error) => {
            reject(
                &file.config.path,
                &format!("cannot read: {error}"),
                rejected,
            );
            return None;
        }
    };
    let hash = content_hash(&bytes);
    if hash == file.hash {
        return None;
    }
    file.hash = hash;
    match Loaded::from_bytes(&file.config, &bytes) {
        Ok(plugin) => {
            tracing::info!(file = %file.config.path.display(), version = plugin.label, "plugin file changed: new version compiled");
            Some(plugin)
        }
        Err(reason) => {
            reject(&file.config.path, &reason, rejected);
            None
        }
    }
}

fn reject(path: &Path, reason: &str, rejected: &AtomicU64) {
    rejected.fetch_add(1, Ordering::Relaxed);
    tracing::error!(file = %path.display(), reason, "plugin file rejected; the running version is kept");
}

fn file_stamp(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()))
}
