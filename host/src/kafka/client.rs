//! Building librdkafka configurations from the `[kafka]` map.
//!
//! The pipeline's own settings (idempotence, manual commits, assignment
//! strategy) come first as defaults; whatever the user put in `[kafka]` is
//! applied on top, so every librdkafka property stays reachable (SASL/SSL for
//! Confluent Cloud, timeouts, tuning).

use rdkafka::ClientConfig;

use crate::config::Config;

/// Which client a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    /// The CDC producer: idempotent, acks from all replicas, batched.
    Producer,
    /// A consumer-group member (its group id comes from `[consumer]`).
    Consumer,
    /// Topic administration and status queries.
    Admin,
}

/// Whether `[kafka]` chooses Kafka 4's consumer group protocol (KIP-848)
/// over the classic one.
pub fn uses_consumer_group_protocol(config: &Config) -> bool {
    config
        .kafka
        .get("group.protocol")
        .is_some_and(|protocol| protocol.trim().eq_ignore_ascii_case("consumer"))
}

/// The librdkafka configuration for `role`.
pub fn client_config(config: &Config, role: ClientRole) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", config.bootstrap_servers());
    match role {
        ClientRole::Producer => {
            client
                .set("enable.idempotence", "true")
                .set("acks", "all")
                // Bigger, compressed batches: measured on the local broker
                // (nisshi), lz4 and a 1 MB batch lift its produce rate from
                // ~11k to ~19k records/s; any broker stores fewer bytes.
                .set("linger.ms", "10")
                .set("compression.type", "lz4")
                .set("batch.size", "1000000")
                .set("batch.num.messages", "10000")
                .set("queue.buffering.max.messages", "500000")
                // A record times out after 5 minutes; the producer then
                // restarts from its saved position. Infinite (0) was tried:
                // after a restart of a one-node Kafka the producer's
                // deliveries never completed (test broker_restart hung), so
                // the finite default stays. Its limit: with idempotence a
                // record that times out fails alone while later records of
                // its partition land, and the change re-sent after them is
                // taken for an older one (README Limits; transactions fix it).
                .set("message.timeout.ms", "300000");
        }
        ClientRole::Consumer => {
            client
                .set("group.id", &config.consumer.group_id)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest");
            // Kafka 4's consumer group protocol (KIP-848, `group.protocol =
            // "consumer"` in `[kafka]`) assigns on the broker and takes the
            // session and heartbeat times from the broker's configuration:
            // librdkafka refuses these three settings with it. Its
            // rebalances are incremental, as cooperative-sticky's are.
            if !uses_consumer_group_protocol(config) {
                client
                    .set("partition.assignment.strategy", "cooperative-sticky")
                    .set("session.timeout.ms", "10000")
                    .set("heartbeat.interval.ms", "1000");
            }
            client
                // Kafka answers a fetch as soon as data arrives, so this
                // only bounds an idle wait there. nisshi instead polls its
                // storage, sleeping half the time left between empty reads,
                // and spends at most about half of it assembling records.
                // Measured with the bench (100k records, 5 members, runs
                // alternated): 50 ms against 100 ms cut the latency p99 at
                // 2,000 updates/s from 159-168 ms to 133-140 ms, and catch-up
                // stayed the same (27.1k and 23.2k rows/s against 27.5k and
                // 23.3k); 20 ms cut it to 115 ms but lost some catch-up.
                // Librdkafka's default (500) made p99 569 ms for no faster
                // catch-up (25.9k): only a full topic read alone gains.
                .set("fetch.wait.max.ms", "50")
                // The prefetch queue is librdkafka's largest buffer: by
                // default up to 64 MiB and 100,000 messages per partition
                // held ahead of the member. A member takes at most
                // `consumer.batch_size` records per poll, so 8 MiB and 10,000
                // per partition keep it fed and its memory flat whatever
                // the topic holds (see `resources`).
                .set("queued.max.messages.kbytes", "8192")
                .set("queued.min.messages", "10000");
        }
        ClientRole::Admin => {}
    }
    for (key, value) in &config.kafka {
        client.set(key, value);
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_properties_override_defaults() {
        let mut config = Config::default();
        config.kafka.insert("linger.ms".into(), "50".into());
        config
            .kafka
            .insert("security.protocol".into(), "SASL_SSL".into());
        let client = client_config(&config, ClientRole::Producer);
        assert_eq!(client.get("linger.ms"), Some("50"));
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("enable.idempotence"), Some("true"));
    }

    #[test]
    fn the_consumer_group_protocol_leaves_the_classic_settings_out() {
        let mut config = Config::default();
        let classic = client_config(&config, ClientRole::Consumer);
        assert_eq!(
            classic.get("partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
        config
            .kafka
            .insert("group.protocol".into(), "consumer".into());
        let consumer = client_config(&config, ClientRole::Consumer);
        for classic_only in [
            "partition.assignment.strategy",
            "session.timeout.ms",
            "heartbeat.interval.ms",
        ] {
            assert_eq!(consumer.get(classic_only), None, "{classic_only}");
        }
        assert_eq!(consumer.get("group.protocol"), Some("consumer"));
        // librdkafka itself accepts the result.
        let created: rdkafka::error::KafkaResult<rdkafka::consumer::BaseConsumer> =
            consumer.create();
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[test]
    fn a_member_prefetches_a_bounded_amount() {
        let client = client_config(&Config::default(), ClientRole::Consumer);
        assert_eq!(client.get("queued.max.messages.kbytes"), Some("8192"));
        assert_eq!(client.get("queued.min.messages"), Some("10000"));
    }
}
