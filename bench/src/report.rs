//! The benchmark report: one typed struct, written as JSON for comparing
//! runs, from which both tables are rendered: the one the bench prints and
//! the README's Performance table (`bench readme [--write]`).
//!
//! The rule that keeps them in step: a measure exists once, as a field
//! here, and [`Report::rows`] is the only list of what the tables show;
//! nothing else names a measure by a string.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Everything one bench run measured; `None` where a measure was skipped
/// (`--no-baseline`, `--no-scaling`) or came out as no number.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Report {
    /// Distinct changed rows of the capacity runs.
    pub rows: Option<f64>,
    /// The broker alone with the pipeline's client settings.
    pub broker: BrokerOnly,
    pub producer_rows_per_s: Option<f64>,
    pub producer_peak_rss_mib: Option<f64>,
    /// Five members alone on a full topic, wasm chain (median of rounds).
    pub consumers_records_per_s: Option<f64>,
    /// The same with the seed transforms in native Rust.
    pub native_consumers_records_per_s: Option<f64>,
    pub wasm_vs_native_ratio: Option<f64>,
    pub consumer_peak_rss_mib: Option<f64>,
    /// The same on a topic of 10k records (memory must not grow with N).
    pub consumer_peak_rss_mib_10k: Option<f64>,
    /// Producer and five members together, from the preloaded state.
    pub catchup_rows_per_s: Option<f64>,
    pub catchup_cpu: CpuUse,
    pub scaling: Scaling,
    /// Latency at a fixed offered load, timestamp mode.
    pub latency: Latency,
    /// The same in binlog mode (a server with a ROW binary log).
    pub latency_binlog: Latency,
    /// Binlog mode working through a backlog of inserts.
    pub binlog_catch_up: BinlogCatchUp,
    pub baseline: Baseline,
    /// Our catch-up over the baseline's.
    pub ratio_vs_baseline: Option<f64>,
    /// The broker's storage engine (see `engine`).
    pub broker_engine: Option<String>,
    /// Producer + consumers, CPU ms per 1,000 rows of the catch-up.
    pub our_cpu_ms_per_1k_rows: Option<f64>,
    pub baseline_cpu_ms_per_1k_rows: Option<f64>,
    /// Ours over the baseline's.
    pub cpu_ratio_vs_baseline: Option<f64>,
    /// Members alone with a long fetch wait, so they (not the broker's
    /// fetch cycle) are the limit: wasm and native, alternated.
    pub cpu_bound: CpuBound,
    /// Wasm over native records/s in that setting.
    pub wasm_vs_native_ratio_cpu_bound: Option<f64>,
    /// Nanoseconds per record of each stage (`stages`).
    pub stage_costs_ns: BTreeMap<String, f64>,
    /// One member's log sync before a commit (a batch of 500 lines).
    pub log_sync_ms_p50: Option<f64>,
    pub log_sync_ms_p99: Option<f64>,
    /// `--producer-only`: the producer alone, each variant's medians.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub producer_only: Vec<crate::producer::ProducerRun>,
    /// `--peers-only`: the CDC process side by side with Debezium's.
    pub peers: crate::peers::report::Peers,
}

/// The members alone where they are CPU-bound.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuBound {
    pub fetch_wait_max_ms: Option<f64>,
    pub wasm_records_per_s: Option<f64>,
    pub native_records_per_s: Option<f64>,
    /// The members' CPU per 1,000 records.
    pub wasm_cpu_ms_per_1k: Option<f64>,
    pub native_cpu_ms_per_1k: Option<f64>,
    /// Native's CPU per record over wasm's: the records/s ratio to expect
    /// where the members have no idle CPU left (on a small machine they
    /// often do, and the records/s ratio then hides the difference).
    pub native_over_wasm_cpu: Option<f64>,
    /// The same transforms built against the `transform` world (every
    /// record as named fields), the interface before `transform-batch`.
    pub wasm_rows_records_per_s: Option<f64>,
    pub wasm_rows_cpu_ms_per_1k: Option<f64>,
    pub wasm_rows_vs_native_ratio: Option<f64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerOnly {
    pub produce_per_s: Option<f64>,
    /// Five members of one group.
    pub consume_per_s: Option<f64>,
    /// 1 / (1/produce + 1/consume): a catch-up's ceiling through it.
    pub catchup_ceiling_rows_per_s: Option<f64>,
}

/// Where a catch-up's CPU went.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuUse {
    /// CPU milliseconds per 1,000 rows.
    pub broker_ms_per_1k_rows: Option<f64>,
    pub mysql_ms_per_1k_rows: Option<f64>,
    pub producer_ms_per_1k_rows: Option<f64>,
    pub consumers_ms_per_1k_rows: Option<f64>,
    /// Percent of all cores.
    pub machine_busy_percent: Option<f64>,
    /// The broker's busiest half second, in cores.
    pub broker_peak_cores: Option<f64>,
}

/// Catch-ups of half the rows with other group and topic sizes.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scaling {
    pub consumers_1_rows_per_s: Option<f64>,
    pub consumers_2_rows_per_s: Option<f64>,
    pub consumers_5_rows_per_s: Option<f64>,
    pub consumers_5_partitions_30_rows_per_s: Option<f64>,
}

/// Binlog mode's catch-up: rows inserted into a running deployment as fast
/// as MySQL takes them, to the last one logged.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BinlogCatchUp {
    pub rows: Option<f64>,
    /// How long MySQL took the inserts (a backlog only while well below the total).
    pub write_s: Option<f64>,
    pub rows_per_s: Option<f64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// The update rate offered (`--rate`).
    pub offered_rate_per_s: Option<f64>,
    /// The update rate MySQL took (a loaded machine can take less).
    pub achieved_rate_per_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Commit (the row's stamp) to `produce()` (the message's CreateTime).
    pub commit_to_produce_p50_ms: Option<f64>,
    pub commit_to_produce_p99_ms: Option<f64>,
    /// `produce()` to the log line.
    pub produce_to_log_p50_ms: Option<f64>,
    pub produce_to_log_p99_ms: Option<f64>,
    /// `produce()` → log line, in legs (the processes' latency trace,
    /// `pipeline::latency_trace`): `produce()` to the producer seeing the
    /// broker's acknowledgement; that acknowledgement to a member's `poll`
    /// returning the record (the broker's fetch cycle and the member's
    /// queue); `poll` to the line appended (decode, chain, write).
    pub produce_to_ack_p50_ms: Option<f64>,
    pub produce_to_ack_p99_ms: Option<f64>,
    pub ack_to_poll_p50_ms: Option<f64>,
    pub ack_to_poll_p99_ms: Option<f64>,
    pub poll_to_log_p50_ms: Option<f64>,
    pub poll_to_log_p99_ms: Option<f64>,
    /// The machine's 1-minute load average when the run ended.
    pub load_average: Option<f64>,
    /// Changes measured.
    pub changes: Option<f64>,
    /// The settings the run used (timestamp mode: grace and poll interval;
    /// both: the producer's `linger.ms`, the members' `fetch.wait.max.ms`).
    pub grace_period_ms: Option<f64>,
    pub poll_interval_ms: Option<f64>,
    pub linger_ms: Option<f64>,
    pub fetch_wait_max_ms: Option<f64>,
}

/// The Python baseline, measured the same way.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Baseline {
    pub producer_rows_per_s: Option<f64>,
    pub consumers_records_per_s: Option<f64>,
    pub catchup_rows_per_s: Option<f64>,
    pub catchup_cpu: CpuUse,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Changes of the latency run that never reached its logs.
    pub latency_missing: Option<f64>,
}

/// A measured number as the report keeps it: rounded to 3 decimals (runs
/// diff cleanly), `None` if it is not a number. Logged as it is measured.
pub fn measured(what: &str, value: f64) -> Option<f64> {
    tracing::info!(what, value, "measured");
    value.is_finite().then(|| (value * 1000.0).round() / 1000.0)
}

/// One line of both tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub measure: String,
    pub pipeline: String,
    pub baseline: String,
    pub target: String,
}

impl Report {
    /// Writes the report as JSON.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        std::fs::write(path, text + "\n").with_context(|| path.display().to_string())
    }

    /// Reads a report written by [`Report::write_json`].
    pub fn read_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "{}: no report; run the bench first (`just bench`)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a report of this bench version; run it again",
                path.display()
            )
        })
    }

    /// What both tables show, in order.
    pub fn rows(&self) -> Vec<Row> {
        let row = |measure: &str, pipeline: String, baseline: String, target: &str| Row {
            measure: measure.to_owned(),
            pipeline,
            baseline,
            target: target.to_owned(),
        };
        let cpu = |cpu: &CpuUse| {
            joined(&[
                number(cpu.broker_ms_per_1k_rows, 0),
                number(cpu.mysql_ms_per_1k_rows, 0),
                number(cpu.producer_ms_per_1k_rows, 0),
                number(cpu.consumers_ms_per_1k_rows, 0),
            ])
        };
        let (ours, theirs) = (&self.catchup_cpu, &self.baseline.catchup_cpu);
        let rows_k = self.rows.map_or("N".to_owned(), |rows| {
            format!("{}k", number(Some(rows / 1000.0), 0))
        });
        vec![
            row(
                "catch-up, producer + 5 consumers (rows/s)",
                number(self.catchup_rows_per_s, 0),
                number(self.baseline.catchup_rows_per_s, 0),
                &format!("ratio ≥ 10: {}", number(self.ratio_vs_baseline, 2)),
            ),
            row(
                "producer alone (rows/s)",
                number(self.producer_rows_per_s, 0),
                number(self.baseline.producer_rows_per_s, 0),
                "≥ 300,000 where the broker allows (see its ceiling below)",
            ),
            row(
                "5 consumers alone, wasm chain (records/s)",
                number(self.consumers_records_per_s, 0),
                number(self.baseline.consumers_records_per_s, 0),
                "≥ 100,000",
            ),
            row(
                "same, native Rust transforms (records/s)",
                number(self.native_consumers_records_per_s, 0),
                String::new(),
                "",
            ),
            row(
                "wasm ÷ native",
                number(self.wasm_vs_native_ratio, 2),
                String::new(),
                "≥ 0.8",
            ),
            row(
                &format!(
                    "latency p50 / p99 / max (ms) at {} updates/s ({} taken)",
                    number(self.latency.offered_rate_per_s, 0),
                    number(self.latency.achieved_rate_per_s, 0)
                ),
                joined(&[
                    number(self.latency.p50_ms, 0),
                    number(self.latency.p99_ms, 0),
                    number(self.latency.max_ms, 0),
                ]),
                joined(&[
                    number(self.baseline.latency_p50_ms, 0),
                    number(self.baseline.latency_p99_ms, 0),
                    number(None, 0),
                ]),
                "p99 ≤ 50 and < baseline p50",
            ),
            row(
                "changes of the latency run missing from the logs",
                "0".to_owned(),
                number(self.baseline.latency_missing, 0),
                "0",
            ),
            row(
                &format!(
                    "members CPU-bound (fetch wait {} ms): wasm / native (records/s)",
                    number(self.cpu_bound.fetch_wait_max_ms, 0)
                ),
                joined(&[
                    number(self.cpu_bound.wasm_records_per_s, 0),
                    number(self.cpu_bound.native_records_per_s, 0),
                ]),
                String::new(),
                "",
            ),
            row(
                "wasm ÷ native, CPU-bound",
                number(self.wasm_vs_native_ratio_cpu_bound, 2),
                String::new(),
                "≥ 0.95",
            ),
            row(
                "the same, plugins of the first interface (`transform` world): records/s, ÷ native",
                joined(&[
                    number(self.cpu_bound.wasm_rows_records_per_s, 0),
                    number(self.cpu_bound.wasm_rows_vs_native_ratio, 2),
                ]),
                String::new(),
                "",
            ),
            row(
                "members' CPU per 1,000 records: wasm / native (ms)",
                joined(&[
                    number(self.cpu_bound.wasm_cpu_ms_per_1k, 2),
                    number(self.cpu_bound.native_cpu_ms_per_1k, 2),
                ]),
                String::new(),
                "",
            ),
            row(
                "wasm ÷ native by CPU per record (native's CPU ÷ wasm's)",
                number(self.cpu_bound.native_over_wasm_cpu, 2),
                String::new(),
                "≥ 0.95",
            ),
            row(
                "latency: commit → produce() p50 / p99 (ms)",
                joined(&[
                    number(self.latency.commit_to_produce_p50_ms, 0),
                    number(self.latency.commit_to_produce_p99_ms, 0),
                ]),
                String::new(),
                "",
            ),
            row(
                "latency: produce() → log line p50 / p99 (ms)",
                joined(&[
                    number(self.latency.produce_to_log_p50_ms, 0),
                    number(self.latency.produce_to_log_p99_ms, 0),
                ]),
                String::new(),
                "",
            ),
            row(
                &format!(
                    "binlog mode: latency p50 / p99 / max (ms) ({} updates/s taken)",
                    number(self.latency_binlog.achieved_rate_per_s, 0)
                ),
                joined(&[
                    number(self.latency_binlog.p50_ms, 0),
                    number(self.latency_binlog.p99_ms, 0),
                    number(self.latency_binlog.max_ms, 0),
                ]),
                String::new(),
                "p99 ≤ 30",
            ),
            row(
                "binlog mode: commit → produce() / produce() → log line, p50 / p99 (ms)",
                joined(&[
                    number(self.latency_binlog.commit_to_produce_p50_ms, 0),
                    number(self.latency_binlog.commit_to_produce_p99_ms, 0),
                    number(self.latency_binlog.produce_to_log_p50_ms, 0),
                    number(self.latency_binlog.produce_to_log_p99_ms, 0),
                ]),
                String::new(),
                "",
            ),
            row(
                &format!(
                    "binlog mode: catch-up of {} inserted rows (rows/s; MySQL took them in {} s)",
                    number(self.binlog_catch_up.rows, 0),
                    number(self.binlog_catch_up.write_s, 1)
                ),
                number(self.binlog_catch_up.rows_per_s, 0),
                String::new(),
                "",
            ),
            row(
                &format!("consumer peak RSS, {rows_k} / 10k rows (MiB)"),
                joined(&[
                    number(self.consumer_peak_rss_mib, 0),
                    number(self.consumer_peak_rss_mib_10k, 0),
                ]),
                String::new(),
                "< 64, no growth",
            ),
            row(
                "producer peak RSS (MiB)",
                number(self.producer_peak_rss_mib, 0),
                String::new(),
                "",
            ),
            row(
                "catch-up CPU per 1,000 rows (ms): broker / MariaDB / producer / consumers",
                cpu(ours),
                cpu(theirs),
                "producer ≤ 2, consumers ≤ 3.5",
            ),
            row(
                "catch-up CPU per 1,000 rows, producer + consumers (ms)",
                number(self.our_cpu_ms_per_1k_rows, 1),
                number(self.baseline_cpu_ms_per_1k_rows, 1),
                &format!(
                    "≤ 5.5 and ≤ 1/6 of the baseline: {}",
                    number(self.cpu_ratio_vs_baseline, 2)
                ),
            ),
            row(
                "stage costs per record (ns): MySQL row decode / Avro encode; wire decode / wasm chain / native chain / JSON line / log write",
                format!(
                    "{}; {}",
                    joined(&[
                        number(
                            self.stage_costs_ns
                                .get("producer_mysql_row_decode")
                                .copied(),
                            0
                        ),
                        number(self.stage_costs_ns.get("producer_avro_encode").copied(), 0),
                    ]),
                    joined(&[
                        number(self.stage_costs_ns.get("consumer_wire_decode").copied(), 0),
                        number(
                            self.stage_costs_ns
                                .get("consumer_plugin_chain_wasm")
                                .copied(),
                            0
                        ),
                        number(
                            self.stage_costs_ns
                                .get("consumer_plugin_chain_native")
                                .copied(),
                            0
                        ),
                        number(self.stage_costs_ns.get("consumer_json_line").copied(), 0),
                        number(self.stage_costs_ns.get("consumer_log_write").copied(), 0),
                    ])
                ),
                String::new(),
                "",
            ),
            row(
                "stage costs per record (ns): the rest of the producer / of the members (librdkafka, acks, polling)",
                joined(&[
                    number(self.stage_costs_ns.get("producer_rest").copied(), 0),
                    number(self.stage_costs_ns.get("consumers_rest").copied(), 0),
                ]),
                String::new(),
                "",
            ),
            row(
                "member log sync before a commit, p50 / p99 (ms)",
                joined(&[
                    number(self.log_sync_ms_p50, 2),
                    number(self.log_sync_ms_p99, 2),
                ]),
                String::new(),
                "",
            ),
            row(
                "catch-up: machine busy (% of both cores)",
                number(ours.machine_busy_percent, 0),
                number(theirs.machine_busy_percent, 0),
                "",
            ),
            row(
                "catch-up: the broker's busiest half second (cores)",
                number(ours.broker_peak_cores, 2),
                number(theirs.broker_peak_cores, 2),
                "",
            ),
            row(
                "broker storage engine",
                self.broker_engine.clone().unwrap_or_else(|| "–".into()),
                String::new(),
                "",
            ),
            row(
                "broker only, same client settings: produce / consume by 5 members (msgs/s)",
                joined(&[
                    number(self.broker.produce_per_s, 0),
                    number(self.broker.consume_per_s, 0),
                ]),
                String::new(),
                "",
            ),
            row(
                "broker's ceiling for a catch-up, 1 / (1/produce + 1/consume) (rows/s)",
                number(self.broker.catchup_ceiling_rows_per_s, 0),
                String::new(),
                "",
            ),
            row(
                "scaling: catch-up with 1 / 2 / 5 consumers, 10 partitions (rows/s)",
                joined(&[
                    number(self.scaling.consumers_1_rows_per_s, 0),
                    number(self.scaling.consumers_2_rows_per_s, 0),
                    number(self.scaling.consumers_5_rows_per_s, 0),
                ]),
                String::new(),
                "",
            ),
            row(
                "scaling: 5 consumers, 30 partitions (rows/s)",
                number(self.scaling.consumers_5_partitions_30_rows_per_s, 0),
                String::new(),
                "",
            ),
        ]
    }

    /// The table the bench prints.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let width = rows.iter().map(|row| row.measure.chars().count()).max();
        let width = width.unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>22}  {:>22}  target",
            "measure", "pipeline", "Python baseline"
        );
        for row in rows {
            let _ = writeln!(
                out,
                "{:<width$}  {:>22}  {:>22}  {}",
                row.measure, row.pipeline, row.baseline, row.target
            );
        }
        out
    }

    /// The README's Performance table (Markdown).
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| measure | pipeline | Python baseline | target |\n|---|---:|---:|---|\n",
        );
        for row in self.rows() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.measure, row.pipeline, row.baseline, row.target
            );
        }
        out
    }
}

/// Markers around the table in the README.
const START: &str = "<!-- bench:start -->";
const END: &str = "<!-- bench:end -->";

/// Markers around the side-by-side table (pipeline, Debezium, baseline).
pub const PEERS_START: &str = "<!-- bench:peers:start -->";
pub const PEERS_END: &str = "<!-- bench:peers:end -->";

/// `readme` with the text between the bench markers replaced by `table`.
pub fn replace_readme_table(readme: &str, table: &str) -> Result<String> {
    replace_between(readme, START, END, table)
}

/// `readme` with the text between `start_marker` and `end_marker` replaced.
pub fn replace_between(
    readme: &str,
    start_marker: &str,
    end_marker: &str,
    table: &str,
) -> Result<String> {
    let start = readme
        .find(start_marker)
        .with_context(|| format!("the README has no {start_marker} marker"))?
        + start_marker.len();
    let end = readme[start..]
        .find(end_marker)
        .map(|offset| start + offset)
        .with_context(|| format!("the README has no {end_marker} marker after {start_marker}"))?;
    Ok(format!("{}\n{table}{}", &readme[..start], &readme[end..]))
}

fn joined(parts: &[String]) -> String {
    parts.join(" / ")
}

/// `value` with `digits` decimals and thousands separators; `–` if absent.
pub(crate) fn number(value: Option<f64>, digits: usize) -> String {
    let Some(value) = value else {
        return "–".to_owned();
    };
    let text = format!("{:.digits$}", value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_rounded_and_absent_ones_shown_as_a_dash() {
        assert_eq!(number(Some(1_234_567.8), 0), "1,234,568");
        assert_eq!(number(Some(0.8123), 2), "0.81");
        assert_eq!(number(Some(-1234.0), 0), "-1,234");
        assert_eq!(number(None, 0), "–");
        assert_eq!(measured("x", 12_345.678_9), Some(12_345.679));
        assert_eq!(measured("x", f64::NAN), None);
    }

    #[test]
    fn both_tables_come_from_the_same_rows_and_the_json_round_trips() {
        let mut report = Report {
            catchup_rows_per_s: Some(12_345.679),
            ..Report::default()
        };
        report.scaling.consumers_1_rows_per_s = Some(1_000.0);
        report.scaling.consumers_5_rows_per_s = Some(5_000.0);
        for table in [report.table(), report.markdown()] {
            assert!(table.contains("12,346"), "{table}");
            assert!(table.contains("1,000 / – / 5,000"), "{table}");
        }
        assert_eq!(
            report.markdown().lines().count(),
            report.rows().len() + 2,
            "a header, a rule and one line a row"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        report.write_json(&path).unwrap();
        assert_eq!(Report::read_json(&path).unwrap(), report);
    }

    #[test]
    fn the_readme_table_is_replaced_between_the_markers_only() {
        let readme = format!("before\n{START}\nold\n{END}\nafter\n");
        let new = replace_readme_table(&readme, "| new |\n").unwrap();
        assert_eq!(new, format!("before\n{START}\n| new |\n{END}\nafter\n"));
        assert!(replace_readme_table("no markers", "x").is_err());
    }
}
