//! The benchmark report: a table for people, JSON for comparing runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};

/// Measured numbers by key (all numbers, so runs diff and plot easily).
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub numbers: BTreeMap<String, f64>,
}

impl Report {
    pub fn set(&mut self, key: &str, value: f64) {
        tracing::info!(key, value, "measured");
        self.numbers.insert(key.to_owned(), value);
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.numbers.get(key).copied()
    }

    /// Writes the numbers as a JSON object (non-finite values as null).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let object: serde_json::Map<String, serde_json::Value> = self
            .numbers
            .iter()
            .map(|(key, value)| {
                let rounded = (value * 1000.0).round() / 1000.0;
                (
                    key.clone(),
                    serde_json::Number::from_f64(rounded)
                        .map_or(serde_json::Value::Null, serde_json::Value::Number),
                )
            })
            .collect();
        let text = serde_json::to_string_pretty(&object)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| Error::io(parent, error))?;
        }
        std::fs::write(path, text + "\n").map_err(|error| Error::io(path, error))
    }

    /// The table people read, with the targets next to the numbers.
    pub fn table(&self) -> String {
        let value = |key: &str| self.get(key).map_or("-".to_owned(), format_number);
        let mut out = String::new();
        // A key may be several keys joined by " / ", shown side by side.
        let rows: &[(&str, &str, &str)] = &[
            (
                "catch-up, producer + 5 consumers (rows/s)",
                "catchup_rows_per_s",
                "",
            ),
            (
                "  baseline (Python seed design)",
                "baseline_catchup_rows_per_s",
                "",
            ),
            ("  ratio vs baseline", "ratio_vs_baseline", "≥ 10"),
            ("producer alone (rows/s)", "producer_rows_per_s", "≥ 50,000"),
            (
                "  baseline producer alone",
                "baseline_producer_rows_per_s",
                "",
            ),
            (
                "5 consumers alone, wasm chain (records/s)",
                "consumers_records_per_s",
                "≥ 100,000",
            ),
            (
                "  same, native Rust transforms",
                "native_consumers_records_per_s",
                "",
            ),
            ("  wasm ÷ native", "wasm_vs_native_ratio", "≥ 0.8"),
            (
                "  baseline consumers alone",
                "baseline_consumers_records_per_s",
                "",
            ),
            (
                "latency at offered rate (updates/s)",
                "offered_rate_per_s",
                "",
            ),
            ("  p50 (ms)", "latency_p50_ms", ""),
            ("  p99 (ms)", "latency_p99_ms", "< baseline p50"),
            ("  max (ms)", "latency_max_ms", ""),
            ("  baseline p50 (ms)", "baseline_latency_p50_ms", ""),
            ("  baseline p99 (ms)", "baseline_latency_p99_ms", ""),
            (
                "consumer peak RSS, N rows (MiB)",
                "consumer_peak_rss_mib",
                "< 64",
            ),
            (
                "  same at 10k rows",
                "consumer_peak_rss_mib_10k",
                "no growth",
            ),
            ("producer peak RSS (MiB)", "producer_peak_rss_mib", ""),
            ("broker only: produce (msgs/s)", "broker_produce_per_s", ""),
            (
                "broker only: consume, 5 members (msgs/s)",
                "broker_consume_per_s",
                "",
            ),
            (
                "  broker's catch-up ceiling, 1/(1/in + 1/out)",
                "broker_catchup_ceiling_rows_per_s",
                "",
            ),
            (
                "catch-up CPU ms per 1k rows: broker",
                "catchup_cpu_ms_per_1k_rows_broker",
                "",
            ),
            (
                "  MariaDB / producer / consumers",
                "catchup_cpu_ms_per_1k_rows_mysql / catchup_cpu_ms_per_1k_rows_producer / catchup_cpu_ms_per_1k_rows_consumers",
                "",
            ),
            (
                "  machine busy (% of all cores)",
                "catchup_machine_busy_percent",
                "",
            ),
            (
                "  broker's busiest half second (cores)",
                "catchup_broker_peak_cores",
                "",
            ),
            (
                "  baseline: broker",
                "baseline_catchup_cpu_ms_per_1k_rows_broker",
                "",
            ),
            (
                "  baseline: MariaDB / producer / consumers",
                "baseline_catchup_cpu_ms_per_1k_rows_mysql / baseline_catchup_cpu_ms_per_1k_rows_producer / baseline_catchup_cpu_ms_per_1k_rows_consumers",
                "",
            ),
            (
                "scaling: 1 / 2 / 5 consumers, 10 partitions",
                "scaling_1_consumers_rows_per_s / scaling_2_consumers_rows_per_s / scaling_5_consumers_rows_per_s",
                "",
            ),
            (
                "scaling: 5 consumers, 30 partitions",
                "scaling_5_consumers_30_partitions_rows_per_s",
                "",
            ),
        ];
        let _ = writeln!(out, "{:<48} {:>14}  target", "measure", "value");
        for (label, key, target) in rows {
            let shown = key.split(" / ").map(value).collect::<Vec<_>>().join(" / ");
            let _ = writeln!(out, "{label:<48} {shown:>14}  {target}");
        }
        out
    }
}

fn format_number(value: f64) -> String {
    if !value.is_finite() {
        "n/a".to_owned()
    } else if value.abs() >= 1000.0 {
        let whole = value.round() as i64;
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if whole < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_json_is_numbers_only() {
        assert_eq!(format_number(1_234_567.8), "1,234,568");
        assert_eq!(format_number(0.8123), "0.81");
        let mut report = Report::default();
        report.set("catchup_rows_per_s", 12_345.678_9);
        report.set("latency_p99_ms", f64::NAN);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        report.write_json(&path).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["catchup_rows_per_s"], 12345.679);
        assert!(json["latency_p99_ms"].is_null());
        assert!(report.table().contains("12,346"));
        report.set("scaling_1_consumers_rows_per_s", 1_000.0);
        report.set("scaling_5_consumers_rows_per_s", 5_000.0);
        assert!(report.table().contains("1,000 / - / 5,000"));
    }
}
