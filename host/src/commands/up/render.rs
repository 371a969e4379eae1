//! The live status of `pipeline up`.

use std::io::Write;

use crate::commands::up::Child;
use crate::progress::Snapshot;

/// Redraws the status table (terminal output).
pub fn table(snapshots: &[(String, Snapshot)], children: &[Child]) {
    let mut out = String::from("\x1b[2J\x1b[H pipeline up — Ctrl-C stops cleanly\n\n");
    for (_, snapshot) in snapshots {
        match snapshot {
            Snapshot::Updater { updates, .. } => {
                out.push_str(&format!(" updater    updates {updates}\n"))
            }
            Snapshot::Producer {
                rows_read,
                rows_acked,
                position,
                ..
            } => out.push_str(&format!(
                " producer   read {rows_read:>9}  acked {rows_acked:>9}  position {}\n",
                position.as_deref().unwrap_or("(start)")
            )),
            Snapshot::Consumer { .. } => {}
        }
    }
    out.push_str(
        "\n member  partitions   records   written   dropped  dead-letters  lag   plugins\n",
    );
    for (_, snapshot) in snapshots {
        if let Snapshot::Consumer {
            member,
            partitions,
            records_in,
            written,
            dropped,
            dead_lettered,
            lag,
            plugins,
            ..
        } = snapshot
        {
            out.push_str(&format!(
                " {member:>6}  {:<11} {records_in:>8} {written:>9} {dropped:>9} {dead_lettered:>13} {lag:>4}   {plugins}\n",
                format!("{partitions:?}")
            ));
        }
    }
    let restarted: Vec<_> = children
        .iter()
        .filter(|child| child.restarts > 0 || !child.is_running() && !child.finished)
        .map(|child| format!("{} (restarts {})", child.spec.name, child.restarts))
        .collect();
    if !restarted.is_empty() {
        out.push_str(&format!("\n restarted or down: {}\n", restarted.join(", ")));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// One log line per process (non-terminal output).
pub fn plain_lines(snapshots: &[(String, Snapshot)]) {
    for (name, snapshot) in snapshots {
        match snapshot {
            Snapshot::Producer {
                rows_read,
                rows_acked,
                position,
                ..
            } => {
                tracing::info!(
                    process = name,
                    rows_read,
                    rows_acked,
                    position = position.as_deref().unwrap_or("start"),
                    "progress"
                );
            }
            Snapshot::Consumer {
                partitions,
                written,
                dropped,
                dead_lettered,
                lag,
                plugins,
                ..
            } => {
                tracing::info!(
                    process = name,
                    ?partitions,
                    written,
                    dropped,
                    dead_lettered,
                    lag,
                    plugins,
                    "progress"
                );
            }
            Snapshot::Updater { updates, .. } => {
                tracing::info!(process = name, updates, "progress")
            }
        }
    }
}
