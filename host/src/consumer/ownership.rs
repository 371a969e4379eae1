//! Which partitions this member owns, and where each resumes.
//!
//! librdkafka calls back here on every rebalance, inside `poll`, on the
//! member's own thread, so no batch is half-processed while ownership
//! changes. On assignment the member re-reads what all logs hold and starts
//! each partition at the later of the committed offset and the line after
//! the last one any member wrote for it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use crate::consumer::counters::ConsumerCounters;
use crate::sink::Delivered;

/// The member's view of its partitions and of what is already written.
#[derive(Debug, Default)]
pub struct Ownership {
    pub owned: BTreeSet<i32>,
    pub delivered: Delivered,
}

/// The rdkafka context of one member.
pub struct MemberContext {
    member: u32,
    log_dir: PathBuf,
    state: Mutex<Ownership>,
    counters: Arc<ConsumerCounters>,
}

impl MemberContext {
    pub fn new(member: u32, log_dir: PathBuf, counters: Arc<ConsumerCounters>) -> Self {
        Self {
            member,
            log_dir,
            state: Mutex::new(Ownership::default()),
            counters,
        }
    }

    /// The ownership state (poisoning is impossible to recover from, so a
    /// poisoned lock is taken as is).
    pub fn state(&self) -> MutexGuard<'_, Ownership> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let delivered = match Delivered::scan(&self.log_dir) {
            Ok(delivered) => delivered,
            Err(error) => {
                // Without the logs the member cannot know what was written;
                // starting anyway could write records twice.
                tracing::error!(member = self.member, %error, "cannot read the consumer logs; stopping");
                std::process::exit(2);
            }
        };
        let committed = consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(10))
            .unwrap_or_else(|_| tpl.clone());
        let mut partitions = Vec::new();
        for element in tpl.elements() {
            let partition = element.partition();
            let committed_offset = committed
                .find_partition(element.topic(), partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                });
            let resume = match (committed_offset, delivered.next_offset(partition)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            partitions.push((element.topic().to_owned(), partition, resume));
        }
        for (topic, partition, resume) in &partitions {
            if let Some(offset) = resume {
                let _ = tpl.set_partition_offset(topic, *partition, Offset::Offset(*offset));
            }
        }
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = if cooperative {
            consumer.incremental_assign(tpl)
        } else {
            consumer.assign(tpl)
        };
        if let Err(error) = result {
            tracing::error!(member = self.member, %error, "assigning partitions failed");
        }
        let mut state = self.state();
        if !cooperative {
            // An eager assignment is the whole new set, not an addition.
            state.owned.clear();
        }
        state
            .owned
            .extend(partitions.iter().map(|(_, partition, _)| *partition));
        state.delivered = delivered;
        self.counters
            .set_partitions(state.owned.iter().copied().collect());
        tracing::info!(
            member = self.member,
            assigned = ?partitions.iter().map(|(_, p, o)| (p, o)).collect::<Vec<_>>(),
            owned = ?state.owned,
            "partitions assigned (partition, resume offset)"
        );
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
        for element in tpl.elements() {
            state.owned.remove(&element.partition());
        }
        self.counters
            .set_partitions(state.owned.iter().copied().collect());
        tracing::info!(
            member = self.member,
            revoked = ?tpl.elements().iter().map(|e| e.partition()).collect::<Vec<_>>(),
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
                self.state().owned.clear();
            }
        }
    }
}
