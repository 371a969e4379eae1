//! Kafka clients, all through librdkafka (rdkafka), so the same binary talks
//! to nisshi, Apache Kafka, Redpanda or Confluent Cloud by configuration.

mod admin;
mod client;
mod security;
mod watermarks;

pub use admin::ensure_topic;
pub use client::{ClientRole, client_config, uses_consumer_group_protocol};
pub use security::check_login;
pub use watermarks::cached_high_watermark;
