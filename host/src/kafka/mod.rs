//! Kafka clients, all through librdkafka (rdkafka), so the same binary talks
//! to nisshi, Apache Kafka, Redpanda or Confluent Cloud by configuration.

mod admin;
mod client;
mod group_description;
mod security;
mod watermarks;

pub use admin::ensure_topic;
pub use client::{ClientRole, client_config, uses_consumer_group_protocol};
pub use group_description::{GroupDescription, GroupProtocol, MemberDescription, describe_group};
pub use security::check_login;
pub use watermarks::cached_high_watermark;
