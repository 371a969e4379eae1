//! What is in a CDC process's topic, read the same way for both systems:
//! how many messages it holds (the partitions' high watermarks), and the
//! probe consumer that notes when each new message became readable.
//!
//! The rule that keeps the comparison fair: one probe, one set of client
//! settings, started at the topic's end before the changes, for either
//! topic; it only copies what it receives (no decoding while it polls), so
//! its own cost is the same whatever the format.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pipeline::config::Config;
use pipeline::timestamp::Timestamp;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// One message as the probe received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// Wall-clock microseconds when `poll` returned it.
    pub received_us: i64,
}

fn client(config: &Config, group: &str) -> Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", config.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .context("the bench's probe consumer")
}

/// Reads a topic's size.
pub struct Counter {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
}

impl Counter {
    pub fn new(config: &Config, topic: &str) -> Result<Self> {
        let consumer = client(config, "bench_peers_counter")?;
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .with_context(|| format!("metadata of {topic}"))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |topic| topic.partitions().len()) as i32;
        if partitions == 0 {
            bail!("the topic {topic} has no partitions (was it created?)");
        }
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            partitions,
        })
    }

    /// Messages in the topic now (tombstones included).
    pub fn count(&self) -> Result<i64> {
        self.high_watermarks()
            .map(|marks| marks.iter().map(|(_, high)| high).sum())
    }

    fn high_watermarks(&self) -> Result<Vec<(i32, i64)>> {
        (0..self.partitions)
            .map(|partition| {
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(&self.topic, partition, Duration::from_secs(10))
                    .with_context(|| format!("watermarks of {}/{partition}", self.topic))?;
                Ok((partition, high - low.max(0)))
            })
            .collect()
    }

    /// Waits until the topic holds at least `target` messages; fails when
    /// `alive` says the CDC process died or the timeout passes. Returns
    /// when the first message beyond `before` appeared and when the target
    /// was reached.
    pub fn wait_for(
        &self,
        before: i64,
        target: i64,
        timeout: Duration,
        mut alive: impl FnMut() -> Result<()>,
    ) -> Result<(Instant, Instant)> {
        let deadline = Instant::now() + timeout;
        let mut first = None;
        loop {
            let count = self.count()?;
            let now = Instant::now();
            if count > before && first.is_none() {
                first = Some(now);
            }
            if count >= target {
                return Ok((first.unwrap_or(now), now));
            }
            alive()?;
            if now > deadline {
                bail!(
                    "{} holds {count} of {target} messages after {timeout:?}",
                    self.topic
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message of the topic from the beginning, up to the high
    /// watermarks of now, in partition order.
    pub fn read_all(&self, config: &Config) -> Result<Vec<Received>> {
        let ends = self.high_watermarks()?;
        let consumer = client(config, "bench_peers_reader")?;
        let mut assignment = TopicPartitionList::new();
        for (partition, _) in &ends {
            assignment.add_partition_offset(&self.topic, *partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let total: i64 = ends.iter().map(|(_, high)| high).sum();
        let mut messages = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + Duration::from_secs(120);
        while (messages.len() as i64) < total {
            if Instant::now() > deadline {
                bail!(
                    "read {} of {total} messages of {}",
                    messages.len(),
                    self.topic
                );
            }
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                messages.push(received(&message?));
            }
        }
        Ok(messages)
    }
}

fn received(message: &rdkafka::message::BorrowedMessage<'_>) -> Received {
    Received {
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        received_us: Timestamp::now().micros(),
    }
}

/// The probe: a consumer on its own thread from the topic's current end.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<Received>>>,
}

impl Probe {
    /// Assigns every partition of `counter`'s topic at its high watermark
    /// now, so only messages produced from here on are received.
    pub fn start(config: &Config, counter: &Counter) -> Result<Self> {
        let consumer = client(config, "bench_peers_probe")?;
        let mut assignment = TopicPartitionList::new();
        for (partition, high) in counter.high_watermarks()? {
            assignment.add_partition_offset(&counter.topic, partition, Offset::Offset(high))?;
        }
        consumer.assign(&assignment)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut messages = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                    messages.push(received(&message?));
                }
            }
            Ok(messages)
        });
        Ok(Self { stop, thread })
    }

    /// Stops the probe; everything it received.
    pub fn finish(self) -> Result<Vec<Received>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the probe consumer panicked"))?
    }
}
