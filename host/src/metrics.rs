//! Prometheus metrics (`/metrics`) and a liveness probe (`/health`), one
//! endpoint per process, rendered from the same counters as the progress
//! snapshots. The text format is simple enough that a client library would
//! add more than it saves.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::consumer::ConsumerCounters;
use crate::error::{Error, Result};
use crate::histogram::LatencyHistogram;
use crate::producer::ProducerCounters;

/// Writes `histogram` as Prometheus histogram series `name` (`labels` end
/// with a comma, or are empty).
fn histogram(out: &mut String, name: &str, labels: &str, histogram: &LatencyHistogram) {
    let snapshot = histogram.snapshot();
    for (le, cumulative) in &snapshot.buckets {
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {cumulative}");
    }
    let count = snapshot.count;
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
    let _ = writeln!(
        out,
        "{name}_sum{} {}",
        label_set(labels),
        snapshot.sum_seconds
    );
    let _ = writeln!(out, "{name}_count{} {count}", label_set(labels));
}

/// `{a="1"}` for labels `a="1",` (the trailing comma lets histograms append
/// `le`); nothing for no labels.
fn label_set(labels: &str) -> String {
    let labels = labels.trim_end_matches(',');
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

fn counter(out: &mut String, name: &str, help: &str, labels: &str, value: u64) {
    let labels = label_set(labels);
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name}{labels} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, labels: &str, value: u64) {
    let labels = label_set(labels);
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}"
    );
}

/// The producer's metrics.
pub fn render_producer(counters: &ProducerCounters) -> String {
    let mut out = String::new();
    counter(
        &mut out,
        "pipeline_producer_rows_read_total",
        "Rows read from MySQL and handed to Kafka.",
        "",
        counters.rows_read(),
    );
    counter(
        &mut out,
        "pipeline_producer_rows_acked_total",
        "Rows acknowledged by the broker (position saved).",
        "",
        counters.rows_acked(),
    );
    counter(
        &mut out,
        "pipeline_producer_late_changes_total",
        "Changes found behind the position by the lookback scan and produced.",
        "",
        counters.late_changes(),
    );
    counter(
        &mut out,
        "pipeline_producer_clock_steps_back_total",
        "Steps back of the MySQL server's clock seen between polls.",
        "",
        counters.clock_steps_back(),
    );
    let position_us = counters.position().map_or(0, |p| p.timestamp.micros());
    gauge(
        &mut out,
        "pipeline_producer_position_timestamp_us",
        "The stamp (source.timestamp_column) of the saved position.",
        "",
        u64::try_from(position_us).unwrap_or(0),
    );
    out
}

/// A member's metrics.
pub fn render_consumer(member: u32, counters: &ConsumerCounters) -> String {
    let mut out = String::new();
    let labels = format!("member=\"{member}\"");
    counter(
        &mut out,
        "pipeline_consumer_records_total",
        "Records taken from the topic.",
        &labels,
        counters.records_in(),
    );
    counter(
        &mut out,
        "pipeline_consumer_written_total",
        "Records written to the log.",
        &labels,
        counters.written(),
    );
    counter(
        &mut out,
        "pipeline_consumer_dropped_total",
        "Records filtered out by a plugin.",
        &labels,
        counters.dropped(),
    );
    counter(
        &mut out,
        "pipeline_consumer_dead_letters_total",
        "Records sent to the dead letters.",
        &labels,
        counters.dead_lettered(),
    );
    counter(
        &mut out,
        "pipeline_consumer_duplicates_skipped_total",
        "Records already in a log, skipped.",
        &labels,
        counters.duplicates_skipped(),
    );
    gauge(
        &mut out,
        "pipeline_consumer_lag",
        "Records behind the high watermark.",
        &labels,
        counters.lag(),
    );
    gauge(
        &mut out,
        "pipeline_consumer_partitions",
        "Partitions owned.",
        &labels,
        counters.partitions().len() as u64,
    );
    let _ = writeln!(
        out,
        "# HELP pipeline_consumer_latency_seconds MySQL commit (the row stamp) to log line.\n# TYPE pipeline_consumer_latency_seconds histogram"
    );
    histogram(
        &mut out,
        "pipeline_consumer_latency_seconds",
        &format!("{labels},"),
        counters.latency(),
    );
    out
}

/// The metrics address of a process: the configured port plus `offset`
/// (0 for the producer, N for member N), so one setting serves them all.
pub fn address(listen: &str, offset: u16) -> Result<Option<SocketAddr>> {
    if listen.is_empty() {
        return Ok(None);
    }
    let mut address: SocketAddr = listen.parse().map_err(|_| {
        Error::config(
            "metrics.listen",
            format!("`{listen}` is not an address like 127.0.0.1:9100"),
        )
    })?;
    address.set_port(address.port().saturating_add(offset));
    Ok(Some(address))
}

/// Serves `/metrics` and `/health` until the task is dropped.
pub async fn serve(
    address: SocketAddr,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) -> Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let render = Arc::clone(&render);
                async move { render() }
            }),
        )
        .route("/health", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| Error::io(format!("metrics listener {address}"), error))?;
    tracing::info!(%address, "metrics on /metrics, liveness on /health");
    axum::serve(listener, app)
        .await
        .map_err(|error| Error::io(format!("metrics listener {address}"), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let histogram = LatencyHistogram::default();
        for micros in [500, 3_000, 3_000, 20_000_000] {
            histogram.observe_us(micros);
        }
        let mut out = String::new();
        super::histogram(&mut out, "h", "", &histogram);
        assert!(out.contains("h_bucket{le=\"0.001\"} 1"), "{out}");
        assert!(out.contains("h_bucket{le=\"0.005\"} 3"), "{out}");
        assert!(out.contains("h_bucket{le=\"+Inf\"} 4"), "{out}");
    }

    #[test]
    fn address_offsets_the_port() {
        assert_eq!(address("", 1).unwrap(), None);
        assert_eq!(
            address("127.0.0.1:9100", 3).unwrap(),
            Some("127.0.0.1:9103".parse().unwrap())
        );
        assert!(address("nine", 0).is_err());
    }
}
