//! A consumer group as its coordinator describes it: the protocol its
//! members speak, its state, its assignor, and each member's client, host
//! and partitions.
//!
//! One request describes a group of either protocol: librdkafka's
//! DescribeConsumerGroups asks with ConsumerGroupDescribe (Kafka 4's
//! KIP-848 protocol) and falls back to the classic DescribeGroups for a
//! classic group or a broker without that API, decoding the classic
//! members' assignments itself. The classic `fetch_group_list` alone
//! reports a consumer-protocol group as `Dead` with no members, even while
//! it runs. rdkafka (the Rust crate) does not wrap this admin call, hence
//! the FFI below; every pointer it reads belongs to the result event, which
//! lives until the end of [`describe_group`].

use std::ffi::{CStr, CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{Error, Result};

/// The group protocol a group's members speak, as its coordinator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup: the members assign among themselves.
    Classic,
    /// ConsumerGroupHeartbeat (Kafka 4, KIP-848): the broker assigns.
    Consumer,
}

/// What the coordinator said about one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// `None` when the description does not tell (a group with no members,
    /// one the broker does not know).
    pub protocol: Option<GroupProtocol>,
    /// `Stable`, `Empty`, `Dead`, … (librdkafka's names; the consumer
    /// protocol's `Assigning` and `Reconciling` show as `Unknown`).
    pub state: String,
    pub assignor: String,
    pub members: Vec<MemberDescription>,
    /// The coordinator's error for this group, e.g. that it does not exist.
    pub error: Option<String>,
}

/// One member: its ids and the partitions it is assigned now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// (topic, partition), sorted.
    pub partitions: Vec<(String, i32)>,
}

/// Describes `group_id` through `client`'s connections, waiting up to
/// `timeout` for the coordinator's answer.
pub fn describe_group<C: ClientContext>(
    client: &Client<C>,
    group_id: &str,
    timeout: Duration,
) -> Result<GroupDescription> {
    let group = CString::new(group_id)
        .map_err(|_| Error::config("consumer.group_id", "contains a NUL byte"))?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let rk = client.native_ptr();
    // SAFETY: `rk` is valid while `client` is borrowed. The options and the
    // queue are created here and destroyed below on every path; the group
    // name outlives the call (librdkafka copies it). The event polled from
    // the queue is ours and destroyed after `read_event` has copied what it
    // needs out of it.
    unsafe {
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        );
        let mut errstr = [0 as c_char; 256];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        let queue = rd::rd_kafka_queue_new(rk);
        let mut groups = [group.as_ptr()];
        rd::rd_kafka_DescribeConsumerGroups(rk, groups.as_mut_ptr(), 1, options, queue);
        // A little longer than the request's own timeout, so that one
        // answers with its error rather than this poll with nothing.
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(1000));
        let described = if event.is_null() {
            Err(Error::Kafka(KafkaError::AdminOp(
                RDKafkaErrorCode::OperationTimedOut,
            )))
        } else {
            let described = read_event(event);
            rd::rd_kafka_event_destroy(event);
            described
        };
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_AdminOptions_destroy(options);
        described
    }
}

/// The description in a DescribeConsumerGroups result event.
///
/// # Safety
/// `event` must be a live event polled from a DescribeConsumerGroups queue.
unsafe fn read_event(event: *mut rd::rd_kafka_event_t) -> Result<GroupDescription> {
    unsafe {
        let code = rd::rd_kafka_event_error(event);
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(Error::Kafka(KafkaError::AdminOp(code.into())));
        }
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event);
        if result.is_null() {
            return Err(Error::Kafka(KafkaError::AdminOp(
                RDKafkaErrorCode::BadMessage,
            )));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        if groups.is_null() || count == 0 {
            return Err(Error::Kafka(KafkaError::AdminOp(
                RDKafkaErrorCode::BadMessage,
            )));
        }
        Ok(read_group(*groups))
    }
}

/// # Safety
/// `group` must point into a live DescribeConsumerGroups result.
unsafe fn read_group(group: *const rd::rd_kafka_ConsumerGroupDescription_t) -> GroupDescription {
    unsafe {
        let error = rd::rd_kafka_ConsumerGroupDescription_error(group);
        let error = (!error.is_null()).then(|| text(rd::rd_kafka_error_string(error)));
        let protocol = match rd::rd_kafka_ConsumerGroupDescription_type(group) {
            rd::rd_kafka_consumer_group_type_t::RD_KAFKA_CONSUMER_GROUP_TYPE_CONSUMER => {
                Some(GroupProtocol::Consumer)
            }
            rd::rd_kafka_consumer_group_type_t::RD_KAFKA_CONSUMER_GROUP_TYPE_CLASSIC => {
                Some(GroupProtocol::Classic)
            }
            _ => None,
        };
        let state = text(rd::rd_kafka_consumer_group_state_name(
            rd::rd_kafka_ConsumerGroupDescription_state(group),
        ));
        let assignor = text(rd::rd_kafka_ConsumerGroupDescription_partition_assignor(
            group,
        ));
        let members = (0..rd::rd_kafka_ConsumerGroupDescription_member_count(group))
            .map(|index| rd::rd_kafka_ConsumerGroupDescription_member(group, index))
            .filter(|member| !member.is_null())
            .map(|member| read_member(member))
            .collect();
        GroupDescription {
            protocol,
            state,
            assignor,
            members,
            error,
        }
    }
}

/// # Safety
/// `member` must point into a live DescribeConsumerGroups result.
unsafe fn read_member(member: *const rd::rd_kafka_MemberDescription_t) -> MemberDescription {
    unsafe {
        let mut partitions = Vec::new();
        let assignment = rd::rd_kafka_MemberDescription_assignment(member);
        let list = if assignment.is_null() {
            std::ptr::null()
        } else {
            rd::rd_kafka_MemberAssignment_partitions(assignment)
        };
        if !list.is_null() && !(*list).elems.is_null() {
            let count = usize::try_from((*list).cnt).unwrap_or(0);
            for element in std::slice::from_raw_parts((*list).elems, count) {
                partitions.push((text(element.topic), element.partition));
            }
        }
        partitions.sort();
        MemberDescription {
            member_id: text(rd::rd_kafka_MemberDescription_consumer_id(member)),
            client_id: text(rd::rd_kafka_MemberDescription_client_id(member)),
            host: text(rd::rd_kafka_MemberDescription_host(member)),
            partitions,
        }
    }
}

/// A C string librdkafka owns, copied; empty for NULL.
///
/// # Safety
/// `pointer` is NULL or a live NUL-terminated string.
unsafe fn text(pointer: *const c_char) -> String {
    if pointer.is_null() {
        String::new()
    } else {
        // SAFETY: as the caller promised.
        unsafe { CStr::from_ptr(pointer) }
            .to_string_lossy()
            .into_owned()
    }
}
