//! Which partitions this member owns, and where each resumes.
//!
//! librdkafka calls back here on every rebalance, inside `poll`, on the
//! member's own thread, so no batch is half-processed while ownership
//! changes.
//!
//! The rule: **a member owns a partition (writes lines for it) only while it
//! holds the partition's lock (see `partition_lock`), and it reads the logs
//! to find where the partition resumes only after taking the lock.** An
//! assigned partition whose lock another process still holds (a member the
//! group dropped while it was blocked) is paused, and taken over as soon as
//! that process lets go: it resumes at the later of the committed offset and
//! the line after the last one any member wrote for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use crate::consumer::counters::ConsumerCounters;
use crate::consumer::partition_anchor;
use crate::consumer::partition_lock::PartitionLock;
use crate::consumer::{TopicPartition, Topics};
use crate::error::{Error, Result};
use crate::sink::{Delivered, SourceColumns};

/// A partition and the offset it resumes at (`None`: nothing committed or
/// logged, start where the group's reset policy says).
type ResumePoint = (TopicPartition, Option<i64>);

/// How long the broker may take to answer the take-over's questions.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// The member's view of its partitions and of what is already written.
#[derive(Debug, Default)]
pub struct Ownership {
    /// Assigned and locked: the partitions this member writes.
    pub owned: BTreeSet<TopicPartition>,
    /// Assigned, but the lock is still held by another process: paused.
    pub waiting: BTreeSet<TopicPartition>,
    pub delivered: Delivered,
    locks: BTreeMap<TopicPartition, PartitionLock>,
    /// A reason to stop found inside a callback (logs from another topic).
    pub fatal: Option<Error>,
    /// Partitions whose anchor this process has checked (once is enough).
    anchors_checked: BTreeSet<TopicPartition>,
}

impl Ownership {
    fn release(&mut self, partition: TopicPartition) {
        self.owned.remove(&partition);
        self.waiting.remove(&partition);
        self.locks.remove(&partition);
    }
}

/// The rdkafka context of one member.
pub struct MemberContext {
    member: u32,
    /// The topics read, one per table; a [`TopicPartition`] numbers them so.
    topics: Topics,
    log_dir: PathBuf,
    /// The first table's columns (lines written before lines carried their
    /// source position are of it).
    columns: SourceColumns,
    state: Mutex<Ownership>,
    counters: Arc<ConsumerCounters>,
    /// A client configuration to read one record back (the anchor check).
    probe: Option<rdkafka::ClientConfig>,
}

impl MemberContext {
    pub fn new(
        member: u32,
        topics: Topics,
        log_dir: PathBuf,
        columns: SourceColumns,
        counters: Arc<ConsumerCounters>,
    ) -> Self {
        Self {
            member,
            topics,
            log_dir,
            columns,
            state: Mutex::new(Ownership::default()),
            counters,
            probe: None,
        }
    }

    /// The client configuration the anchor check reads a record with.
    pub fn with_probe(mut self, probe: rdkafka::ClientConfig) -> Self {
        self.probe = Some(probe);
        self
    }

    /// The ownership state (poisoning is impossible to recover from, so a
    /// poisoned lock is taken as is).
    pub fn state(&self) -> MutexGuard<'_, Ownership> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the locks it can of `partitions`: the ones taken, and the ones
    /// another process holds.
    fn take_locks(
        &self,
        partitions: &[TopicPartition],
    ) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
        let mut state = self.state();
        let (mut locked, mut held) = (Vec::new(), Vec::new());
        for &partition in partitions {
            if state.locks.contains_key(&partition) {
                locked.push(partition);
                continue;
            }
            match PartitionLock::try_take(&self.log_dir, self.topics.name(partition.0), partition.1)
            {
                Ok(Some(lock)) => {
                    state.locks.insert(partition, lock);
                    locked.push(partition);
                }
                Ok(None) => held.push(partition),
                Err(error) => {
                    state.fatal.get_or_insert(error);
                    held.push(partition);
                }
            }
        }
        (locked, held)
    }

    /// Reads the logs (after the locks are taken) and works out where each
    /// of `partitions` resumes.
    fn resume_points(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &[TopicPartition],
    ) -> Result<(Delivered, Vec<ResumePoint>)> {
        let delivered = Delivered::scan(&self.log_dir, self.topics.name(0), &self.columns)?;
        let list = self.list(partitions);
        let committed = consumer
            .committed_offsets(list.clone(), BROKER_TIMEOUT)
            .unwrap_or(list);
        let mut points = Vec::new();
        for &partition in partitions {
            let topic = self.topics.name(partition.0);
            let committed_offset =
                committed
                    .find_partition(topic, partition.1)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(offset) => Some(offset),
                        _ => None,
                    });
            let logged = delivered.next_offset(topic, partition.1);
            if let Some(logged) = logged {
                self.check_not_recreated(consumer, partition, logged)?;
            }
            let resume = match (committed_offset, logged) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            points.push((partition, resume));
        }
        Ok((delivered, points))
    }

    /// Refuses a partition whose logs already reach past its end: the topic
    /// was deleted and recreated (or the logs come from another cluster),
    /// and resuming would skip every record below the old offsets.
    fn check_not_recreated(
        &self,
        consumer: &BaseConsumer<Self>,
        at: TopicPartition,
        logged_next: i64,
    ) -> Result<()> {
        let (topic, partition) = (self.topics.name(at.0), at.1);
        let (low, high) = consumer.fetch_watermarks(topic, partition, BROKER_TIMEOUT)?;
        let unchecked = !self.state().anchors_checked.contains(&at);
        if let (true, Some(probe), Some(anchor)) = (
            unchecked,
            &self.probe,
            partition_anchor::load(&self.log_dir, topic, partition)?,
        ) && anchor.offset < high
            && let Some(reason) = partition_anchor::check(probe, topic, partition, &anchor, low)?
        {
            return Err(Error::ForeignLogs {
                path: self.log_dir.clone(),
                message: format!(
                    "{reason} (topic `{topic}`): the topic was deleted and recreated. Resuming would \
                     skip its records below offset {logged_next} as already written. To start \
                     over, move {} aside (the members write new logs)",
                    self.log_dir.display()
                ),
            });
        }
        self.state().anchors_checked.insert(at);
        if logged_next > high {
            return Err(Error::ForeignLogs {
                path: self.log_dir.clone(),
                message: format!(
                    "they hold offset {} of partition {partition} of topic `{topic}`, which ends at \
                     offset {high}: the topic was recreated, or the logs were written against \
                     another cluster. Resuming would skip its records as already written. To \
                     start over, move {} aside (the members write new logs)",
                    logged_next - 1,
                    self.log_dir.display()
                ),
            });
        }
        Ok(())
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        if !cooperative {
            // An eager assignment is the whole new set, not an addition.
            let mut state = self.state();
            let kept: BTreeSet<TopicPartition> = self.partitions_of(tpl).into_iter().collect();
            let gone: Vec<TopicPartition> = state
                .locks
                .keys()
                .filter(|p| !kept.contains(p))
                .copied()
                .collect();
            for partition in gone {
                state.release(partition);
            }
            state.owned.clear();
            state.waiting.clear();
        }
        let partitions = self.partitions_of(tpl);
        let (mut locked, mut held) = self.take_locks(&partitions);
        let mut scanned = None;
        if !locked.is_empty() {
            match self.resume_points(consumer, &locked) {
                Ok((delivered, points)) => {
                    for (partition, resume) in points {
                        if let Some(offset) = resume {
                            let _ = tpl.set_partition_offset(
                                self.topics.name(partition.0),
                                partition.1,
                                Offset::Offset(offset),
                            );
                        }
                    }
                    scanned = Some(delivered);
                }
                Err(error) => {
                    // Not resumable now: wait (a broker that did not answer)
                    // or stop (`fatal`) with the locks given back.
                    tracing::warn!(member = self.member, %error, "cannot resume partitions yet");
                    let mut state = self.state();
                    for &partition in &locked {
                        state.locks.remove(&partition);
                    }
                    if !error.is_transient() {
                        state.fatal.get_or_insert(error);
                    }
                    held.append(&mut locked);
                }
            }
        }
        let result = if cooperative {
            consumer.incremental_assign(tpl)
        } else {
            consumer.assign(tpl)
        };
        if let Err(error) = result {
            tracing::error!(member = self.member, %error, "assigning partitions failed");
        }
        if !held.is_empty() {
            // Fetch nothing until the lock is ours (`take_over_waiting`).
            if let Err(error) = consumer.pause(&self.list(&held)) {
                tracing::warn!(member = self.member, %error, "pausing partitions failed");
            }
            tracing::warn!(
                member = self.member,
                partitions = ?held,
                "partitions still locked by their previous owner (a member the group dropped \
                 while it was blocked, still alive): waiting for it to let go"
            );
        }
        let mut state = self.state();
        state.owned.extend(locked.iter().copied());
        state.waiting.extend(held.iter().copied());
        if let Some(delivered) = scanned {
            state.delivered = delivered;
        }
        self.counters
            .set_partitions(partition_numbers(&state.owned));
        tracing::info!(
            member = self.member,
            assigned = ?partitions,
            owned = ?state.owned,
            waiting = ?state.waiting,
            "partitions assigned"
        );
    }

    /// Takes over the waiting partitions whose previous owner has let go:
    /// reads the logs, seeks each to its resume point and resumes it.
    /// Called from the member's loop between batches.
    pub fn take_over_waiting(&self, consumer: &BaseConsumer<Self>) {
        let waiting: Vec<TopicPartition> = self.state().waiting.iter().copied().collect();
        if waiting.is_empty() {
            return;
        }
        let (locked, _) = self.take_locks(&waiting);
        if locked.is_empty() {
            return;
        }
        let (delivered, points) = match self.resume_points(consumer, &locked) {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(member = self.member, %error, "cannot resume partitions yet");
                let mut state = self.state();
                for partition in &locked {
                    state.locks.remove(partition);
                }
                if !error.is_transient() {
                    state.fatal.get_or_insert(error);
                }
                return;
            }
        };
        let mut resumed = Vec::new();
        for (partition, resume) in points {
            let offset = resume.map_or(Offset::Beginning, Offset::Offset);
            match consumer.seek(
                self.topics.name(partition.0),
                partition.1,
                offset,
                BROKER_TIMEOUT,
            ) {
                Ok(()) => resumed.push(partition),
                Err(error) => {
                    tracing::warn!(member = self.member, topic = self.topics.name(partition.0), partition = partition.1, %error, "seek failed; retrying");
                    self.state().locks.remove(&partition);
                }
            }
        }
        if let Err(error) = consumer.resume(&self.list(&resumed)) {
            tracing::warn!(member = self.member, %error, "resuming partitions failed");
        }
        let mut state = self.state();
        for &partition in &resumed {
            state.waiting.remove(&partition);
            state.owned.insert(partition);
        }
        state.delivered = delivered;
        self.counters
            .set_partitions(partition_numbers(&state.owned));
        tracing::info!(
            member = self.member,
            resumed = ?resumed,
            owned = ?state.owned,
            "took over partitions their previous owner let go"
        );
    }

    fn list(&self, partitions: &[TopicPartition]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for &(topic, partition) in partitions {
            list.add_partition(self.topics.name(topic), partition);
        }
        list
    }

    /// The list's partitions, in this member's topic numbering (a topic it
    /// does not read cannot be assigned to it, and is left out).
    fn partitions_of(&self, tpl: &TopicPartitionList) -> Vec<TopicPartition> {
        tpl.elements()
            .iter()
            .filter_map(|e| Some((self.topics.index(e.topic())?, e.partition())))
            .collect()
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(error) = result {
            tracing::warn!(member = self.member, %error, "unassigning partitions failed");
        }
        let mut state = self.state();
        for partition in self.partitions_of(tpl) {
            state.release(partition);
        }
        self.counters
            .set_partitions(partition_numbers(&state.owned));
        tracing::info!(
            member = self.member,
            revoked = ?self.partitions_of(tpl),
            owned = ?state.owned,
            "partitions revoked"
        );
    }
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::error!(member = self.member, error = ?other, "rebalance failed; dropping the assignment");
                let _ = consumer.unassign();
                let mut state = self.state();
                let partitions: Vec<TopicPartition> = state.locks.keys().copied().collect();
                for partition in partitions {
                    state.release(partition);
                }
                state.owned.clear();
                state.waiting.clear();
            }
        }
    }
}

/// The partition numbers of `owned`, for the progress snapshot (with
/// several tables a number shows once per topic it is owned in).
fn partition_numbers(owned: &BTreeSet<TopicPartition>) -> Vec<i32> {
    let mut numbers: Vec<i32> = owned.iter().map(|&(_, partition)| partition).collect();
    numbers.sort_unstable();
    numbers
}
