//! Processing one polled batch.
//!
//! The duplicate rule, which makes a re-sent change land once: a record is
//! skipped when its source position (the decoded record's configured key
//! and stamp, never the plugin output) is already in a log, superseded by a
//! newer change of the same key, or taken by an earlier record of this same
//! batch, all within its own topic (one per table). Positions are noted as records are accepted, before the chain runs,
//! so an original and its re-sent copy in one batch make one line.
//! A truncate record (binlog mode) is written as it is, in its place, and
//! never through a chain (see `Member::is_truncate`).

use std::collections::BTreeMap;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::codec::DecodeError;
use crate::consumer::partition_anchor::Anchor;
use crate::consumer::{Member, TopicPartition};
use crate::error::Result;
use crate::plugin::ChainOutcome;
use crate::record::Record;
use crate::retry::Backoff;
use crate::sink::{DeadLetterRecord, Delivered, LogLineRef, RecordJson, SourcePosition};
use crate::timestamp::Timestamp;

/// Where a record came from (the message itself: its key and payload are
/// copied only into a dead letter).
struct Origin {
    /// Its topic's number (its table's route).
    topic: usize,
    partition: i32,
    offset: i64,
    message: OwnedMessage,
    /// The decoded record's source position (set once decoded), with its
    /// key as JSON text: the duplicate rule's index, made once per record.
    source: Option<(SourcePosition, String)>,
    /// A truncate record (binlog mode, op `t`): logged as it is, not
    /// through the chain (see [`Member::is_truncate`]).
    truncate: Option<Record>,
}

/// The positions accepted so far in one batch, checked together with what
/// the logs hold.
#[derive(Default)]
struct BatchPositions(Delivered);

impl BatchPositions {
    /// Whether the change at `position` is a duplicate of one written
    /// before or accepted earlier in this batch; notes it when it is not.
    fn is_duplicate(
        &mut self,
        written: &Delivered,
        topic: &str,
        key_text: &str,
        stamp: i64,
    ) -> bool {
        if written.has_keyed(topic, key_text, stamp) || self.0.has_keyed(topic, key_text, stamp) {
            return true;
        }
        self.0.note_keyed(topic, key_text, stamp);
        false
    }
}

impl Member {
    pub(super) fn process(
        &mut self,
        runtime: &Handle,
        messages: Vec<OwnedMessage>,
        polled_us: i64,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<()> {
        self.counters.add_in(messages.len());
        let owned = self.consumer.context().state().owned.clone();
        let mut handled: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut origins = Vec::with_capacity(messages.len());
        // Per table: its records, in the order of `origins`.
        let mut records: Vec<Vec<Record>> = self.routes.iter().map(|_| Vec::new()).collect();
        let mut letters = Vec::new();
        let mut duplicates = 0;
        let mut accepted = BatchPositions::default();
        for message in messages {
            let (partition, offset) = (message.partition(), message.offset());
            // Subscribed to the configured topics only.
            let Some(topic) = self.topics.index(message.topic()) else {
                continue;
            };
            let at = (topic, partition);
            // Revoked while this batch was being polled (the new owner takes
            // it), or assigned but still locked by a zombie (fetched before
            // the pause; re-read after the take-over): not ours to write.
            // `owned` cannot change before the lines are written: locks are
            // only given up inside `poll`.
            if !owned.contains(&at) {
                continue;
            }
            handled.insert(at, offset);
            // Before any line of the partition is written (see partition_anchor).
            self.anchors
                .ensure(&self.log_dir, at, self.topics.name(topic), || {
                    Anchor::of(offset, message.key(), message.payload())
                })?;
            if self.consumer.context().state().delivered.has_offset(
                self.topics.name(topic),
                partition,
                offset,
            ) {
                duplicates += 1;
                continue;
            }
            // A tombstone (binlog mode, after a delete's record) only tells
            // a compacted topic to drop the key: counted, never a line and
            // never a dead letter.
            if message.payload().is_none() {
                self.counters.add_tombstones(1);
                continue;
            }
            let mut origin = Origin {
                topic,
                partition,
                offset,
                message,
                source: None,
                truncate: None,
            };
            match self.decode(runtime, origin.message.payload(), shutdown) {
                Some(Ok(record)) => {
                    let position = self.routes[topic]
                        .columns
                        .position_of(&record, origin.message.key());
                    let position = match position {
                        Ok(position) => position,
                        // Not placeable by the duplicate rule: never
                        // written without it.
                        Err(reason) => {
                            letters.push(self.dead_letter(&origin, "decode", "", reason));
                            continue;
                        }
                    };
                    origin.source = position.map(|position| {
                        let key_text = position.key.to_string();
                        (position, key_text)
                    });
                    if let Some((position, key_text)) = &origin.source
                        && accepted.is_duplicate(
                            &self.consumer.context().state().delivered,
                            self.topics.name(topic),
                            key_text,
                            position.stamp,
                        )
                    {
                        duplicates += 1;
                        continue;
                    }
                    if self.is_truncate(&record) {
                        origin.truncate = Some(record);
                        origins.push(origin);
                        continue;
                    }
                    origins.push(origin);
                    records[topic].push(record);
                }
                Some(Err(reason)) => letters.push(self.dead_letter(&origin, "decode", "", reason)),
                None => return Ok(()), // shutting down; nothing written, nothing committed
            }
        }

        let logged_at_us = Timestamp::now().micros();
        // Each table's records through its own chain, then back in the
        // batch's order.
        let mut outcomes: Vec<_> = self
            .routes
            .iter_mut()
            .zip(records)
            .map(|(route, records)| {
                if records.is_empty() {
                    Vec::new().into_iter()
                } else {
                    route.chain.process(records).into_iter()
                }
            })
            .collect();
        let mut lines = std::mem::take(&mut self.line_buffer);
        lines.clear();
        let mut written = 0;
        let mut written_positions = Vec::with_capacity(origins.len());
        let mut dropped = 0;
        // The records written, for the latency trace (only when it is on).
        let mut traced = Vec::new();
        for origin in &origins {
            let outcome = if let Some(truncate) = &origin.truncate {
                tracing::info!(
                    member = self.member,
                    topic = self.topics.name(origin.topic),
                    partition = origin.partition,
                    offset = origin.offset,
                    "table truncated: every earlier row of this partition is gone"
                );
                ChainOutcome::Keep(truncate.clone())
            } else {
                let Some(outcome) = outcomes[origin.topic].next() else {
                    // A chain returns one outcome per record (`PluginChain::process`).
                    return Err(crate::error::Error::task_failed(
                        "plugin chain",
                        "fewer outcomes than records",
                    ));
                };
                outcome
            };
            match outcome {
                ChainOutcome::Keep(record) => {
                    if let Some((position, key_text)) = &origin.source {
                        written_positions.push((origin.topic, key_text.as_str(), position.stamp));
                        if self.stamp_is_time {
                            self.counters
                                .latency()
                                .observe_us(logged_at_us - position.stamp);
                        }
                    }
                    let line = LogLineRef {
                        topic: self.topics.name(origin.topic),
                        partition: origin.partition,
                        offset: origin.offset,
                        member: self.member,
                        plugins: self.routes[origin.topic].chain.versions(),
                        logged_at_us,
                        source: origin.source.as_ref().map(|(position, _)| position),
                        record: RecordJson(&record),
                    };
                    serde_json::to_writer(&mut lines, &line)?;
                    lines.push(b'\n');
                    written += 1;
                    if self.trace.is_some() {
                        traced.push((origin.topic, origin.partition, origin.offset));
                    }
                }
                ChainOutcome::Dropped { .. } => dropped += 1,
                ChainOutcome::Failed(failure) => {
                    letters.push(self.dead_letter(
                        origin,
                        &failure.plugin,
                        &failure.version,
                        failure.reason,
                    ));
                }
            }
        }

        self.write_dead_letters(runtime, &letters, shutdown)?;
        let appended = self.log.append_lines(&lines);
        self.line_buffer = lines;
        appended?;
        if let Some(trace) = &mut self.trace {
            let written_us = Timestamp::now().micros();
            for &(topic, partition, offset) in &traced {
                trace.poll(
                    self.topics.name(topic),
                    partition,
                    offset,
                    polled_us,
                    written_us,
                );
            }
            trace.flush();
        }
        {
            let mut state = self.consumer.context().state();
            for (&(topic, partition), &offset) in &handled {
                state
                    .delivered
                    .note_offset(self.topics.name(topic), partition, offset);
            }
            for &(topic, key_text, stamp) in &written_positions {
                state
                    .delivered
                    .note_keyed(self.topics.name(topic), key_text, stamp);
            }
        }
        self.commit(&handled)?;
        self.counters.add_written(written);
        self.counters.add_dropped(dropped);
        self.counters.add_dead_lettered(letters.len());
        self.counters.add_duplicates(duplicates);
        Ok(())
    }

    /// Whether `record` is a truncate record (binlog mode, op `t`): every
    /// row of the table before it in its partition is gone. It is written
    /// to the log as it is, in its partition's order, and never passed to
    /// the plugins, which transform rows (a filter must not drop it); the
    /// duplicate rule treats it as any record (its key names its
    /// partition, its stamp is its place in the binary log).
    fn is_truncate(&self, record: &Record) -> bool {
        self.operation_field.as_ref().is_some_and(|field| {
            matches!(record.get(field), Some(crate::record::FieldValue::Text(op)) if op == "t")
        })
    }

    /// Decodes a payload, waiting out an unreachable registry. `None` when
    /// shutdown was asked for while waiting.
    fn decode(
        &self,
        runtime: &Handle,
        payload: Option<&[u8]>,
        shutdown: &watch::Receiver<bool>,
    ) -> Option<Result<Record, String>> {
        let mut backoff = Backoff::default();
        loop {
            let decoded = match self.decoder.decode_known(payload) {
                Some(decoded) => decoded,
                None => runtime.block_on(self.decoder.decode(payload)),
            };
            match decoded {
                Ok(record) => return Some(Ok(record)),
                Err(DecodeError::Undecodable(reason)) => return Some(Err(reason)),
                Err(DecodeError::RegistryUnavailable(reason)) => {
                    if *shutdown.borrow() {
                        return None;
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(member = self.member, %reason, retry_in_ms = delay.as_millis() as u64, "waiting for the schema registry");
                    std::thread::sleep(delay);
                }
            }
        }
    }

    fn dead_letter(
        &self,
        origin: &Origin,
        stage: &str,
        version: &str,
        reason: String,
    ) -> DeadLetterRecord {
        let record_key = origin
            .source
            .as_ref()
            .map(|(position, _)| position.key.clone());
        tracing::warn!(
            member = self.member,
            topic = self.topics.name(origin.topic),
            partition = origin.partition,
            offset = origin.offset,
            key = origin.source.as_ref().map(|(_, key)| key.as_str()),
            stage,
            version,
            %reason,
            "record sent to the dead letters"
        );
        DeadLetterRecord {
            topic: self.topics.name(origin.topic).to_owned(),
            partition: origin.partition,
            offset: origin.offset,
            key: origin.message.key().map(<[u8]>::to_vec),
            value: origin.message.payload().map(<[u8]>::to_vec),
            stage: stage.to_owned(),
            version: version.to_owned(),
            record_key,
            reason,
            member: self.member,
        }
    }

    /// Writes dead letters, retrying while the destination is away: the batch
    /// must not be committed past a record that is in neither place.
    fn write_dead_letters(
        &mut self,
        runtime: &Handle,
        letters: &[DeadLetterRecord],
        shutdown: &watch::Receiver<bool>,
    ) -> Result<()> {
        let mut backoff = Backoff::default();
        loop {
            match runtime.block_on(self.dead_letters.write(letters)) {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() && !*shutdown.borrow() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(member = self.member, %error, "waiting for the dead-letter destination");
                    std::thread::sleep(delay);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Notes the offset after the last handled message of each partition
    /// and commits what is noted at most every `COMMIT_INTERVAL`.
    /// Asynchronous and sparse on purpose: the logs, not the commits, decide
    /// where a partition resumes (see `ownership`), so a commit that is late
    /// or lost costs a re-read that the logs then skip, never a record. A
    /// commit per batch cost a broker write per batch.
    pub(super) fn commit(&mut self, handled: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        for (&partition, &offset) in handled {
            self.uncommitted.insert(partition, offset);
        }
        if self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.commit_now(CommitMode::Async)?;
        }
        Ok(())
    }

    /// Makes the log durable, then commits every noted offset.
    pub(super) fn commit_now(&mut self, mode: CommitMode) -> Result<()> {
        self.last_commit = std::time::Instant::now();
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        // A committed offset must never point past a line that a crash of
        // the machine (not only of the process) could take away. One sync
        // per commit interval: measured in the report of issue 17 / README.
        self.log.sync()?;
        // A partition revoked since its offset was noted belongs to another
        // member now: committing an older offset over theirs would be wrong.
        let owned = self.consumer.context().state().owned.clone();
        let mut offsets = TopicPartitionList::new();
        for (&(topic, partition), &offset) in &self.uncommitted {
            if owned.contains(&(topic, partition)) {
                let _ = offsets.add_partition_offset(
                    self.topics.name(topic),
                    partition,
                    Offset::Offset(offset + 1),
                );
            }
        }
        self.uncommitted.clear();
        if offsets.count() == 0 {
            return Ok(());
        }
        if let Err(error) = self.consumer.commit(&offsets, mode) {
            tracing::warn!(member = self.member, %error, "offset commit failed; the logs still say where to resume");
        }
        Ok(())
    }
}

/// How often a member commits its offsets while records flow.
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    fn at(key: i64, stamp: i64) -> SourcePosition {
        SourcePosition {
            key: key.into(),
            stamp,
        }
    }

    impl BatchPositions {
        fn is_duplicate_at(
            &mut self,
            written: &Delivered,
            topic: &str,
            position: &SourcePosition,
        ) -> bool {
            self.is_duplicate(written, topic, &position.key.to_string(), position.stamp)
        }
    }

    /// Issue 17 item 12: an original and its re-sent copy in one batch.
    #[test]
    fn a_copy_later_in_the_same_batch_is_a_duplicate() {
        let written = Delivered::default();
        let mut batch = BatchPositions::default();
        assert!(!batch.is_duplicate_at(&written, "t", &at(7, 100)));
        assert!(!batch.is_duplicate_at(&written, "t", &at(8, 100)));
        assert!(
            batch.is_duplicate_at(&written, "t", &at(7, 100)),
            "re-sent copy"
        );
        assert!(
            batch.is_duplicate_at(&written, "t", &at(7, 90)),
            "superseded"
        );
        assert!(
            !batch.is_duplicate_at(&written, "t", &at(7, 101)),
            "a newer change"
        );
    }

    /// Several tables: the same key in two topics is two rows.
    #[test]
    fn the_same_key_in_another_topic_is_not_a_duplicate() {
        let written = Delivered::default();
        let mut batch = BatchPositions::default();
        assert!(!batch.is_duplicate_at(&written, "t", &at(7, 100)));
        assert!(!batch.is_duplicate_at(&written, "u", &at(7, 100)));
        assert!(batch.is_duplicate_at(&written, "u", &at(7, 100)));
    }

    #[test]
    fn what_the_logs_hold_is_a_duplicate() {
        let mut written = Delivered::default();
        written.note_position("t", &at(7, 100));
        let mut batch = BatchPositions::default();
        assert!(batch.is_duplicate_at(&written, "t", &at(7, 100)));
        assert!(!batch.is_duplicate_at(&written, "t", &at(7, 150)));
        assert!(batch.is_duplicate_at(&written, "t", &at(7, 150)));
    }
}
