//! The side-by-side comparison as the report keeps it (`peers.debezium.*`
//! in `report.json`) and its table: pipeline, Debezium and the Python
//! baseline, each target met or not.
//!
//! The rule that keeps the table honest: a target is "met" only when both
//! numbers it compares were measured in this report; anything missing
//! shows as "not measured", never as met.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::report::{Baseline, Latency};

/// The peers compared with the pipeline.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Peers {
    pub debezium: Option<DebeziumComparison>,
}

/// One run of the comparison.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebeziumComparison {
    /// Rows of the snapshot and changes of the catch-up.
    pub rows: Option<f64>,
    pub versions: BTreeMap<String, String>,
    /// Debezium's and the worker's settings as they ran.
    pub debezium_settings: BTreeMap<String, String>,
    /// The pipeline producer's client settings as they ran.
    pub pipeline_settings: BTreeMap<String, String>,
    /// Cores, model, memory, load before and after.
    pub machine: BTreeMap<String, String>,
    pub snapshot: Pair<CdcRun>,
    pub catch_up: Pair<CdcRun>,
    pub latency_2000: Pair<PeerLatency>,
    pub latency_10000: Pair<PeerLatency>,
    pub correctness: Correctness,
    /// How long the whole comparison took.
    pub duration_s: Option<f64>,
}

/// The same measure for both systems.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pair<T> {
    pub pipeline: T,
    pub debezium: T,
}

/// A snapshot or a catch-up: from the CDC process's start to the last row
/// in its topic.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdcRun {
    pub rows: Option<f64>,
    pub seconds: Option<f64>,
    pub rows_per_s: Option<f64>,
    /// Start to the first new message in the topic (start-up, connection,
    /// snapshot set-up).
    pub first_message_s: Option<f64>,
    /// The CDC process alone: CPU per 1,000 rows, peak RSS, rows per
    /// second of its CPU (rows/s per core it kept busy).
    pub cdc_cpu_ms_per_1k_rows: Option<f64>,
    pub cdc_peak_rss_mib: Option<f64>,
    pub rows_per_cdc_core_s: Option<f64>,
    /// The whole machine: busy CPU per 1,000 rows, percent of all cores.
    pub machine_cpu_ms_per_1k_rows: Option<f64>,
    pub machine_busy_percent: Option<f64>,
    /// Catch-up only: how long MariaDB took the changes (the CDC process
    /// stopped meanwhile).
    pub write_s: Option<f64>,
    pub load_average: Option<f64>,
}

/// Commit (the row's stamp) to the change readable in the topic.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerLatency {
    pub offered_rate_per_s: Option<f64>,
    pub achieved_rate_per_s: Option<f64>,
    pub changes: Option<f64>,
    /// Changes the probe received (equal to `changes` unless some were lost).
    pub received: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub cdc_cpu_ms_per_1k_rows: Option<f64>,
    pub load_average: Option<f64>,
}

/// The same workload of updates, deletes, key changes and multi-row
/// transactions through both, each key's sequence of changes compared with
/// what the bench wrote (and the table's final state).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Correctness {
    pub keys: Option<f64>,
    pub changes: Option<f64>,
    pub transactions: Option<f64>,
    /// The table's final state equals the bench's model of its history.
    pub model_matches_table: Option<bool>,
    pub pipeline_keys_matching: Option<f64>,
    pub debezium_keys_matching: Option<f64>,
    /// Keys whose sequences (stamps included) differ between the topics.
    pub keys_differing_between_topics: Option<f64>,
    /// The first difference found, for the reader to look into.
    pub first_difference: Option<String>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn verdict(met: Option<bool>, detail: String) -> String {
    match met {
        Some(true) => format!("met ({detail})"),
        Some(false) => format!("**not met** ({detail})"),
        None => "not measured".into(),
    }
}

fn num(value: Option<f64>, digits: usize) -> String {
    crate::report::number(value, digits)
}

fn latency_cell(latency: &PeerLatency) -> String {
    format!(
        "{} / {} / {}",
        num(latency.p50_ms, 0),
        num(latency.p99_ms, 0),
        num(latency.max_ms, 0)
    )
}

impl DebeziumComparison {
    /// The README's opening table: one line per measure, the pipeline, Debezium
    /// and the Python baseline (from the same report, timestamp mode, where it
    /// has the measure), and the target's verdict.
    pub fn markdown(&self, baseline: &Baseline, ours_timestamp: &Latency) -> String {
        let mut out = String::from(
            "| measure | pipeline | Debezium | Python baseline | target |\n|---|---:|---:|---:|---|\n",
        );
        let rows = num(self.rows, 0);
        let (snap, catch) = (&self.snapshot, &self.catch_up);
        let catch_ratio = ratio(catch.pipeline.rows_per_s, catch.debezium.rows_per_s);
        let cpu_ratio = ratio(
            catch.pipeline.cdc_cpu_ms_per_1k_rows,
            catch.debezium.cdc_cpu_ms_per_1k_rows,
        );
        let rss_ratio = ratio(
            catch.pipeline.cdc_peak_rss_mib,
            catch.debezium.cdc_peak_rss_mib,
        );
        let snap_ratio = ratio(snap.pipeline.rows_per_s, snap.debezium.rows_per_s);
        let mut line =
            |measure: String, ours: String, theirs: String, python: String, target: String| {
                let _ = writeln!(
                    out,
                    "| {measure} | {ours} | {theirs} | {python} | {target} |"
                );
            };
        line(
            format!("snapshot of {rows} rows (rows/s)"),
            num(snap.pipeline.rows_per_s, 0),
            num(snap.debezium.rows_per_s, 0),
            "–".into(),
            verdict(
                snap_ratio.map(|r| r >= 2.0),
                format!("≥ 2× Debezium: {}×", num(snap_ratio, 2)),
            ),
        );
        line(
            format!("streaming catch-up of {rows} changes made while stopped (rows/s)"),
            num(catch.pipeline.rows_per_s, 0),
            num(catch.debezium.rows_per_s, 0),
            format!("{} (timestamp mode)", num(baseline.catchup_rows_per_s, 0)),
            verdict(
                catch_ratio.map(|r| r >= 3.0),
                format!("≥ 3× Debezium: {}×", num(catch_ratio, 2)),
            ),
        );
        line(
            "catch-up: CDC process CPU per 1,000 rows (ms)".into(),
            num(catch.pipeline.cdc_cpu_ms_per_1k_rows, 1),
            num(catch.debezium.cdc_cpu_ms_per_1k_rows, 1),
            num(baseline.catchup_cpu.producer_ms_per_1k_rows, 1),
            verdict(
                cpu_ratio.map(|r| r <= 0.25),
                format!("≤ 1/4 of Debezium's: {}", num(cpu_ratio, 2)),
            ),
        );
        line(
            "catch-up: CDC process peak RSS (MiB)".into(),
            num(catch.pipeline.cdc_peak_rss_mib, 0),
            num(catch.debezium.cdc_peak_rss_mib, 0),
            "–".into(),
            verdict(
                rss_ratio.map(|r| r <= 0.2),
                format!("≤ 1/5 of Debezium's: {}", num(rss_ratio, 2)),
            ),
        );
        line(
            "catch-up: whole machine CPU per 1,000 rows (ms) / busy (%)".into(),
            format!(
                "{} / {}",
                num(catch.pipeline.machine_cpu_ms_per_1k_rows, 1),
                num(catch.pipeline.machine_busy_percent, 0)
            ),
            format!(
                "{} / {}",
                num(catch.debezium.machine_cpu_ms_per_1k_rows, 1),
                num(catch.debezium.machine_busy_percent, 0)
            ),
            "–".into(),
            String::new(),
        );
        line(
            "catch-up per core of the CDC process (rows per CPU-second)".into(),
            num(catch.pipeline.rows_per_cdc_core_s, 0),
            num(catch.debezium.rows_per_cdc_core_s, 0),
            "–".into(),
            "set against DeltaForge's ~151,000 events/s (a whole developer machine)".into(),
        );
        line(
            "snapshot: CDC process CPU per 1,000 rows (ms) / peak RSS (MiB)".into(),
            format!(
                "{} / {}",
                num(snap.pipeline.cdc_cpu_ms_per_1k_rows, 1),
                num(snap.pipeline.cdc_peak_rss_mib, 0)
            ),
            format!(
                "{} / {}",
                num(snap.debezium.cdc_cpu_ms_per_1k_rows, 1),
                num(snap.debezium.cdc_peak_rss_mib, 0)
            ),
            "–".into(),
            String::new(),
        );
        for (rate, pair) in [(2000, &self.latency_2000), (10000, &self.latency_10000)] {
            let (ours, theirs) = (&pair.pipeline, &pair.debezium);
            let below = match (ours.p99_ms, theirs.p99_ms) {
                (Some(a), Some(b)) => Some(a < b),
                _ => None,
            };
            let mut target = verdict(
                below,
                format!(
                    "p99 below Debezium's: {} vs {}",
                    num(ours.p99_ms, 0),
                    num(theirs.p99_ms, 0)
                ),
            );
            if rate == 2000 {
                target = format!(
                    "{target}; {}",
                    verdict(
                        ours.p99_ms.map(|p99| p99 <= 30.0),
                        format!("binlog p99 ≤ 30 ms: {}", num(ours.p99_ms, 0))
                    )
                );
            }
            let python = if rate == 2000 {
                format!(
                    "{} / {} / – (timestamp mode)",
                    num(baseline.latency_p50_ms, 0),
                    num(baseline.latency_p99_ms, 0)
                )
            } else {
                "–".into()
            };
            line(
                format!(
                    "latency commit → readable in the topic, p50 / p99 / max (ms) at {} changes/s ({} / {} taken)",
                    num(Some(f64::from(rate)), 0),
                    num(ours.achieved_rate_per_s, 0),
                    num(theirs.achieved_rate_per_s, 0)
                ),
                latency_cell(ours),
                latency_cell(theirs),
                python,
                target,
            );
        }
        line(
            "timestamp mode: latency to the log line p99 (ms) at 2,000/s".into(),
            num(ours_timestamp.p99_ms, 0),
            "–".into(),
            num(baseline.latency_p99_ms, 0),
            verdict(
                ours_timestamp.p99_ms.map(|p99| p99 <= 50.0),
                format!("≤ 50 ms: {}", num(ours_timestamp.p99_ms, 0)),
            ),
        );
        let c = &self.correctness;
        let keys = c.keys;
        let all = |matching: Option<f64>| match (matching, keys) {
            (Some(m), Some(k)) => Some(m == k),
            _ => None,
        };
        line(
            format!(
                "correctness: keys whose change sequence equals MariaDB's history ({} keys, {} changes, {} transactions)",
                num(keys, 0),
                num(c.changes, 0),
                num(c.transactions, 0)
            ),
            num(c.pipeline_keys_matching, 0),
            num(c.debezium_keys_matching, 0),
            "–".into(),
            verdict(
                all(c.pipeline_keys_matching)
                    .zip(all(c.debezium_keys_matching))
                    .map(|(a, b)| a && b)
                    .map(|both| both && c.keys_differing_between_topics == Some(0.0)),
                format!(
                    "every key, both topics equal: {} keys differ",
                    num(c.keys_differing_between_topics, 0)
                ),
            ),
        );
        out
    }

    /// The versions, settings and machine under the table.
    pub fn notes(&self) -> String {
        let join = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(key, value)| format!("`{key}` = {value}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        format!(
            "Versions: {}.\nMachine: {}.\nDebezium's settings: {}.\nThe pipeline's producer: {}.\n",
            join(&self.versions),
            join(&self.machine),
            join(&self.debezium_settings),
            join(&self.pipeline_settings)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_without_both_figures_is_not_measured_never_met() {
        let empty = DebeziumComparison::default();
        let table = empty.markdown(&Baseline::default(), &Latency::default());
        assert!(!table.contains("met ("), "{table}");
        assert!(table.contains("not measured"), "{table}");
    }

    #[test]
    fn targets_compare_the_two_systems() {
        let mut comparison = DebeziumComparison::default();
        comparison.catch_up.pipeline.rows_per_s = Some(90_000.0);
        comparison.catch_up.debezium.rows_per_s = Some(20_000.0);
        comparison.snapshot.pipeline.rows_per_s = Some(30_000.0);
        comparison.snapshot.debezium.rows_per_s = Some(20_000.0);
        let table = comparison.markdown(&Baseline::default(), &Latency::default());
        assert!(table.contains("met (≥ 3× Debezium: 4.50×)"), "{table}");
        assert!(
            table.contains("**not met** (≥ 2× Debezium: 1.50×)"),
            "{table}"
        );
        let lines = table.lines().count();
        assert_eq!(lines, 2 + 11, "a header, a rule and one line a measure");
    }
}
