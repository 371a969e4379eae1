//! A consumer-group member: topics → decode → each table's plugin chain → its log.
//!
//! One group reads every table's topic (`[[source.tables]]`); a member
//! subscribes to all of them and sends each record through its table's
//! chain (see `tables`).
//!
//! Each member runs on its own thread: librdkafka's poll, the rebalance
//! callbacks and the wasm calls are all blocking, and keeping them on one
//! thread means a rebalance can never happen halfway through a batch.
//!
//! A batch is handled in this order, which is what makes the logs exact:
//! dead letters are made durable, then the log lines are written and
//! flushed, and only then are the offsets committed. A crash at any point
//! leaves lines that the next owner of the partition finds in the logs and
//! does not write again. Before offsets are committed the log is synced to
//! the disk, so no committed offset points past a line a crash of the
//! machine could take away.
//!
//! Stopping is bounded: once shutdown is asked for, a member that has not
//! stopped within `STOP_BOUND` (librdkafka waiting on a broker that does not
//! answer, a dead letter the broker does not acknowledge) exits anyway,
//! which is as safe as being killed.

mod batch;
mod counters;
mod log_identity;
mod ownership;
mod partition_anchor;
mod partition_lock;
mod tables;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::codec::WireDecoder;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config, ensure_topic};
use crate::plugin::PluginChain;
use crate::retry::with_backoff;
use crate::sink::{ConsumerLog, DeadLetterSink, SourceColumns, log_path};

pub use counters::ConsumerCounters;
use log_identity::LogIdentity;
use ownership::MemberContext;
pub use tables::{TableRoute, TopicPartition, Topics, load_chains};

/// How often the lag is refreshed.
const LAG_INTERVAL: Duration = Duration::from_secs(2);

/// How long a member may take to stop once asked (SIGTERM, Ctrl-C).
pub const STOP_BOUND: Duration = Duration::from_secs(8);

/// Runs member `member` until `shutdown` turns true, and stops within
/// `STOP_BOUND` of it. `chains` holds one chain per configured table, in
/// order (see [`load_chains`]).
pub async fn run(
    config: Config,
    member: u32,
    chains: Vec<PluginChain>,
    counters: Arc<ConsumerCounters>,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let stop_asked = shutdown.clone();
    tokio::select! {
        result = run_member(config, member, chains, counters, shutdown) => result,
        () = stop_overdue(stop_asked) => {
            tracing::warn!(
                member,
                bound_s = STOP_BOUND.as_secs(),
                "the member did not stop in time; exiting anyway (nothing is lost: the logs \
                 say where its partitions resume, and the group drops it after \
                 session.timeout.ms)"
            );
            // A thread blocked in librdkafka would keep the runtime, and the
            // process, alive; leaving now is what a kill would do.
            std::process::exit(0)
        }
    }
}

async fn run_member(
    config: Config,
    member: u32,
    chains: Vec<PluginChain>,
    counters: Arc<ConsumerCounters>,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let topics = config.topics();
    if chains.len() != topics.len() {
        return Err(Error::config(
            "consumer",
            format!(
                "{} plugin chains for {} tables: one chain per table is needed",
                chains.len(),
                topics.len()
            ),
        ));
    }
    for topic in &topics {
        with_backoff("the Kafka broker", || {
            ensure_topic(&config, topic, config.topic.partitions)
        })
        .await?;
    }
    let dead_letters =
        with_backoff("the Kafka broker", || DeadLetterSink::open(&config, member)).await?;
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || {
        let member = Member::new(&config, member, chains, dead_letters, counters)?;
        member.run(&runtime, &shutdown)
    })
    .await
    .map_err(|error| Error::task_failed("consumer thread", error))?
}

/// Resolves `STOP_BOUND` after shutdown is asked for; never before.
async fn stop_overdue(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(STOP_BOUND).await;
}

/// Loads the configured plugin chain, checked against the value schema
/// (of `config`'s one table: a view, see `Config::for_table`).
pub async fn load_chain(config: &Config) -> Result<PluginChain> {
    let (schema, key) = crate::source::catalog::plugin_view(config).await?;
    let mut fields = crate::plugin::SchemaFields::from_avro(&schema.schema)?.with_keys(key);
    if config.source.mode == crate::config::SourceMode::Binlog {
        // Binlog records carry the operation and sequence fields (optional:
        // plugins written before them keep working); plugins may read them.
        for (name, ty) in [
            (
                &config.source.operation_field,
                crate::plugin::FieldType::Text,
            ),
            (
                &config.source.sequence_field,
                crate::plugin::FieldType::Long,
            ),
        ] {
            fields.upsert(crate::plugin::FieldSpec {
                name: name.clone(),
                ty,
                optional: true,
            });
        }
    }
    PluginChain::load(&config.plugins, &fields)
}

struct Member {
    member: u32,
    /// The topics read, one per table, numbered as `routes`.
    topics: Topics,
    batch_size: usize,
    /// Per table (numbered as `topics`): its chain and duplicate-rule columns.
    routes: Vec<TableRoute>,
    /// Whether the stamp is a time (timestamp mode), so commit-to-log latency
    /// can be taken from it; in binlog mode it is the log sequence number.
    stamp_is_time: bool,
    /// Binlog mode: the operation field, whose `t` marks a truncate record
    /// (see `batch`).
    operation_field: Option<String>,
    consumer: BaseConsumer<MemberContext>,
    decoder: WireDecoder,
    log: ConsumerLog,
    dead_letters: DeadLetterSink,
    counters: Arc<ConsumerCounters>,
    /// Offsets handled since the last commit (see `batch::commit`).
    uncommitted: std::collections::BTreeMap<TopicPartition, i64>,
    last_commit: Instant,
    log_dir: std::path::PathBuf,
    /// The partitions whose anchor is known to be recorded.
    anchors: partition_anchor::Anchors,
    /// Each batch's log lines, serialized here (reused between batches).
    line_buffer: Vec<u8>,
    /// The bench's per-record timing trace, when asked for (`latency_trace`).
    trace: Option<crate::latency_trace::LatencyTrace>,
}

impl Member {
    fn new(
        config: &Config,
        member: u32,
        chains: Vec<PluginChain>,
        dead_letters: DeadLetterSink,
        counters: Arc<ConsumerCounters>,
    ) -> Result<Self> {
        let log = ConsumerLog::open(&log_path(&config.consumer.log_dir, member), false)?;
        let binlog = config.source.mode == crate::config::SourceMode::Binlog;
        let topics = Topics::new(config.topics());
        let routes = tables::routes(config, chains);
        let first_columns: SourceColumns = routes
            .first()
            .map(|route| route.columns.clone())
            .ok_or_else(|| Error::config("source.table", "no table configured"))?;
        let context = MemberContext::new(
            member,
            topics.clone(),
            config.consumer.log_dir.clone(),
            first_columns,
            Arc::clone(&counters),
        )
        .with_probe({
            let mut probe = client_config(config, ClientRole::Admin);
            probe
                .set(
                    "group.id",
                    format!("{}-anchor-probe", config.consumer.group_id),
                )
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false");
            probe
        });
        let consumer: BaseConsumer<MemberContext> = client_config(config, ClientRole::Consumer)
            .set("client.id", format!("pipeline-consumer-{member}"))
            .create_with_context(context)?;
        LogIdentity {
            topic: topics.name(0).to_owned(),
            topics: topics.all().iter().skip(1).cloned().collect(),
            cluster_id: consumer.client().fetch_cluster_id(Duration::from_secs(10)),
        }
        .check_or_record(&config.consumer.log_dir)?;
        let subscribed: Vec<&str> = topics.all().iter().map(String::as_str).collect();
        consumer.subscribe(&subscribed)?;
        let versions = tables::versions(&routes);
        counters.set_plugin_versions(&versions);
        tracing::info!(
            member,
            topics = ?topics.all(),
            log = %log.path().display(),
            dead_letters = dead_letters.describe(),
            plugins = versions,
            "consumer started"
        );
        Ok(Self {
            member,
            topics,
            batch_size: config.consumer.batch_size,
            routes,
            stamp_is_time: !binlog,
            operation_field: binlog.then(|| config.source.operation_field.clone()),
            consumer,
            decoder: WireDecoder::new(&config.schema_registry)?,
            log,
            dead_letters,
            counters,
            uncommitted: std::collections::BTreeMap::new(),
            last_commit: Instant::now(),
            log_dir: config.consumer.log_dir.clone(),
            anchors: partition_anchor::Anchors::default(),
            line_buffer: Vec::new(),
            trace: crate::latency_trace::LatencyTrace::from_env(&format!("consumer_{member}")),
        })
    }

    fn run(mut self, runtime: &Handle, shutdown: &watch::Receiver<bool>) -> Result<()> {
        let mut lag_checked = Instant::now();
        while !*shutdown.borrow() {
            let (messages, polled_us) = self.poll_batch();
            if let Some(error) = self.consumer.context().state().fatal.take() {
                return Err(error);
            }
            self.consumer.context().take_over_waiting(&self.consumer);
            if !messages.is_empty() {
                self.process(runtime, messages, polled_us, shutdown)?;
            }
            let mut swapped = false;
            for route in &mut self.routes {
                for event in route.chain.swap_in_ready() {
                    tracing::info!(member = self.member, table = %route.table, ?event, "plugin swapped");
                    swapped = true;
                }
            }
            if swapped {
                self.counters
                    .set_plugin_versions(&tables::versions(&self.routes));
            }
            if lag_checked.elapsed() >= LAG_INTERVAL {
                self.refresh_lag();
                lag_checked = Instant::now();
            }
        }
        tracing::info!(member = self.member, "consumer stopping: leaving the group");
        self.commit_now(rdkafka::consumer::CommitMode::Sync)?;
        self.consumer.unsubscribe();
        Ok(())
    }

    /// Up to `batch_size` messages: waits briefly for the first, then takes
    /// whatever is already fetched. Also returns when the first arrived
    /// (UTC microseconds), for the latency trace.
    fn poll_batch(&self) -> (Vec<OwnedMessage>, i64) {
        let mut batch = Vec::new();
        let mut polled_us = 0;
        let mut timeout = Duration::from_millis(100);
        while batch.len() < self.batch_size {
            match self.consumer.poll(timeout) {
                Some(Ok(message)) => {
                    if batch.is_empty() {
                        polled_us = crate::timestamp::Timestamp::now().micros();
                    }
                    batch.push(message.detach());
                }
                Some(Err(error)) => {
                    tracing::warn!(member = self.member, %error, "waiting for the Kafka broker");
                    break;
                }
                None => break,
            }
            timeout = Duration::ZERO;
        }
        (batch, polled_us)
    }

    /// The lag from what the member already knows: its positions and the
    /// high watermarks of the last fetch responses. Never a broker request:
    /// this runs on the member's thread, between batches (see
    /// `kafka::cached_high_watermark`).
    fn refresh_lag(&self) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        self.counters
            .set_lag(lag_of(&positions, |topic, partition| {
                crate::kafka::cached_high_watermark(self.consumer.client(), topic, partition)
            }));
    }
}

/// Messages behind the high watermark over `positions`, each partition's
/// watermark from `high_watermark` (partitions without a position or a
/// known watermark count nothing).
fn lag_of(
    positions: &rdkafka::TopicPartitionList,
    high_watermark: impl Fn(&str, i32) -> Option<i64>,
) -> u64 {
    positions
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            rdkafka::Offset::Offset(position) => {
                let high = high_watermark(element.topic(), element.partition())?;
                Some(u64::try_from(high - position).unwrap_or(0))
            }
            _ => None,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_partitions_with_a_position_and_a_known_watermark() {
        let mut positions = rdkafka::TopicPartitionList::new();
        positions
            .add_partition_offset("t", 0, rdkafka::Offset::Offset(10))
            .unwrap();
        positions
            .add_partition_offset("t", 1, rdkafka::Offset::Offset(5))
            .unwrap();
        positions
            .add_partition_offset("t", 2, rdkafka::Offset::Invalid)
            .unwrap();
        positions
            .add_partition_offset("t", 3, rdkafka::Offset::Offset(7))
            .unwrap();
        let lag = lag_of(&positions, |_, partition| match partition {
            0 => Some(15),
            1 => Some(3), // a stale watermark behind the position: no lag
            2 => Some(100),
            _ => None, // not fetched yet
        });
        assert_eq!(lag, 5);
    }
}
