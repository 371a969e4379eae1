//! Creating topics explicitly (brokers may have auto-creation off, and an
//! auto-created topic would get the broker's default partition count).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::client::{ClientRole, client_config};

/// Creates `topic` with `partitions` partitions unless it exists. An existing
/// topic is left as it is (with a warning if its partition count differs).
pub async fn ensure_topic(config: &Config, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(config, ClientRole::Admin).create()?;
    let new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(config.topic.replication_factor),
    );
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                tracing::error!(topic = name, %code, "could not create topic");
                return Err(Error::Kafka(rdkafka::error::KafkaError::AdminOp(code)));
            }
        }
    }
    let existing = partition_count(&admin, topic)?;
    if existing != partitions as usize {
        tracing::warn!(
            topic,
            existing,
            configured = partitions,
            "topic exists with a different partition count; keeping it"
        );
    }
    Ok(())
}

fn partition_count(admin: &AdminClient<DefaultClientContext>, topic: &str) -> Result<usize> {
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len()))
}
