//! What the producer checks and reports around its reads: a saved position
//! that the server's clock has not reached, a lookback shorter than the
//! server's lock waits, late changes and clock steps.

use std::path::Path;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::producer::ProducerCounters;
use crate::source::late::BeyondWindow;
use crate::source::{Position, SourceRow};
use crate::timestamp::Timestamp;

/// Refuses a saved position further ahead of the server's UTC clock than
/// the lookback (a clock step back within it is recovered by the lookback):
/// one saved while stamps followed a zone east of UTC (before the triggers
/// stamped UTC) would hold back every change for hours, then skip some.
/// Warns when the lookback is shorter than the server's
/// `innodb_lock_wait_timeout`: an INSERT may wait that long for a lock after
/// its stamp was taken.
pub async fn check_start(
    conn: &mut Conn,
    source: &SourceConfig,
    position: Option<&Position>,
    position_path: &Path,
) -> Result<()> {
    let (now, lock_wait_seconds): (Value, u64) = conn
        .query_first("SELECT NOW(6), @@GLOBAL.innodb_lock_wait_timeout")
        .await?
        .ok_or_else(|| Error::Source("NOW(6) returned no row".into()))?;
    let now = Timestamp::from_mysql(&now)
        .ok_or_else(|| Error::Source(format!("NOW(6) returned {now:?}, not a timestamp")))?;
    if Duration::from_secs(lock_wait_seconds) > source.lookback() {
        tracing::warn!(
            lookback_ms = source.lookback_ms,
            innodb_lock_wait_timeout_s = lock_wait_seconds,
            "source.lookback_ms is shorter than the server's innodb_lock_wait_timeout: an INSERT that waits for a lock longer than the lookback lands behind it and is not delivered; raise source.lookback_ms"
        );
    }
    let lookback = i64::try_from(source.lookback().as_micros()).unwrap_or(i64::MAX);
    if let Some(position) = position {
        let ahead = position.timestamp.micros() - now.micros();
        if ahead > lookback {
            let resume = Timestamp(now.micros() - 3_600_000_000);
            return Err(Error::Position {
                path: position_path.to_owned(),
                message: format!(
                    "the saved position {} is {:.0} s ahead of the server's clock ({now} UTC), more than source.lookback_ms; \
                     it was probably saved while stamps followed a time zone east of UTC (before the pipeline stamped UTC). \
                     Changes stamped now would be held back, then skipped. Fix: set \"last_read_timestamp\" to the UTC instant to resume from \
                     (for example \"{resume}\", an hour ago) or to null to re-read the table; consumers skip what they already logged",
                    position.timestamp,
                    ahead as f64 / 1e6,
                ),
            });
        }
    }
    Ok(())
}

/// Logs and counts late changes found by the lookback scan.
pub fn report_late(rows: &[SourceRow], position: &Position, counters: &ProducerCounters) {
    let Some(first) = rows.first() else {
        return;
    };
    let behind_ms = (position.timestamp.micros() - first.position.timestamp.micros()) / 1000;
    tracing::warn!(
        count = rows.len(),
        first = ?first.position,
        position = ?position,
        behind_ms,
        "changes committed behind the position (an INSERT that waited for a lock, a clock step back, or a restart re-sending the lookback window): producing them now"
    );
    counters.add_late(rows.len());
}

/// Logs, at error level, late changes found beyond the lookback window.
pub fn report_beyond(
    beyond: &BeyondWindow,
    position: &Position,
    lookback: Duration,
    counters: &ProducerCounters,
) {
    if beyond.late == 0 {
        return;
    }
    tracing::error!(
        late = beyond.late,
        seconds = ?beyond.seconds.iter().map(ToString::to_string).collect::<Vec<_>>(),
        position = ?position,
        lookback_ms = lookback.as_millis() as u64,
        resent = beyond.rows.len(),
        "changes committed more than source.lookback_ms behind the position: producing them now; raise source.lookback_ms above the longest lock wait or clock step"
    );
    counters.add_late(beyond.late as usize);
}

/// Logs a step back of the server's clock, at error level when it is larger
/// than the lookback (changes stamped further back are not recovered).
pub fn report_clock_step(step: Duration, lookback: Duration, counters: &ProducerCounters) {
    counters.add_clock_step();
    let step_ms = step.as_millis() as u64;
    if step > lookback {
        tracing::error!(
            step_ms,
            lookback_ms = lookback.as_millis() as u64,
            "the server's clock stepped back by more than source.lookback_ms: changes stamped before the position by more than the lookback are not delivered; set the position file back by the step and restart (consumers skip what they logged)"
        );
    } else {
        tracing::warn!(
            step_ms,
            "the server's clock stepped back; changes stamped behind the position meanwhile are recovered by the lookback scan"
        );
    }
}
