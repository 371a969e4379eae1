//! The broker alone, with the pipeline's client settings: how many records
//! per second it takes and gives (to five consumers of one group, as the
//! pipeline runs them), so a bottleneck in the local broker shows as such
//! instead of being blamed on the pipeline (or hidden).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

use anyhow::{Result, anyhow};
use pipeline::config::Config;
use pipeline::kafka::{ClientRole, client_config, ensure_topic};

use crate::report::{BrokerOnly, measured};

/// A payload the size of an encoded product record.
const PAYLOAD: [u8; 64] = [7; 64];

/// As many group members as the pipeline runs: one consumer alone is not
/// the broker's ceiling for five.
const MEMBERS: usize = 5;

pub async fn measure(config: &Config, rows: usize) -> Result<BrokerOnly> {
    let topic = format!(
        "bench_broker_{}",
        pipeline::timestamp::Timestamp::now().micros()
    );
    ensure_topic(config, &topic, config.topic.partitions).await?;
    let producer: FutureProducer = client_config(config, ClientRole::Producer).create()?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(rows);
    for index in 0..rows {
        let key = (index % 100_000).to_string();
        loop {
            match producer.send_result(FutureRecord::to(&topic).key(&key).payload(&PAYLOAD[..])) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((_, _)) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    for delivery in futures::future::join_all(deliveries).await {
        if let Ok(Err((error, _))) = delivery {
            return Err(error.into());
        }
    }
    let produce = rows as f64 / started.elapsed().as_secs_f64();

    let mut consumer_config = config.clone();
    consumer_config.consumer.group_id = format!("{topic}_group");
    let rate = consume_with_members(&consumer_config, &topic, rows, MEMBERS).await?;
    Ok(BrokerOnly {
        produce_per_s: measured("broker_produce_per_s", produce),
        consume_per_s: measured("broker_consume_per_s", rate),
        catchup_ceiling_rows_per_s: measured(
            "broker_catchup_ceiling_rows_per_s",
            catchup_ceiling(produce, rate),
        ),
    })
}

/// The most rows/s a catch-up can move through this broker if it cannot
/// take in and give out at the same time: each row costs it one produce and
/// one consume. nisshi is such a broker here: during a catch-up its threads
/// together stay at about one core while the machine has CPU to spare.
fn catchup_ceiling(produce_per_s: f64, consume_per_s: f64) -> f64 {
    1.0 / (1.0 / produce_per_s + 1.0 / consume_per_s)
}

/// `members` consumers of one group, each on its own thread, reading the
/// topic until `rows` records arrived between them: records/s from the
/// first record to the last, as the pipeline's members are measured.
async fn consume_with_members(
    config: &Config,
    topic: &str,
    rows: usize,
    members: usize,
) -> Result<f64> {
    let received = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::with_capacity(members);
    for _ in 0..members {
        let client = client_config(config, ClientRole::Consumer);
        let topic = topic.to_owned();
        let received = Arc::clone(&received);
        threads.push(tokio::task::spawn_blocking(
            move || -> Result<Option<(Instant, Instant)>> {
                let consumer: BaseConsumer = client.create()?;
                consumer.subscribe(&[&topic])?;
                let mut window: Option<(Instant, Instant)> = None;
                let deadline = Instant::now() + Duration::from_secs(300);
                while received.load(Ordering::Relaxed) < rows && Instant::now() < deadline {
                    if let Some(Ok(_)) = consumer.poll(Duration::from_millis(50)) {
                        let now = Instant::now();
                        window = Some(window.map_or((now, now), |(first, _)| (first, now)));
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(window)
            },
        ));
    }
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for thread in threads {
        let window = thread
            .await
            .map_err(|error| anyhow!("broker bench thread: {error}"))??;
        if let Some((start, end)) = window {
            first = Some(first.map_or(start, |f| f.min(start)));
            last = Some(last.map_or(end, |l| l.max(end)));
        }
    }
    Ok(match (first, last) {
        (Some(first), Some(last)) => {
            received.load(Ordering::Relaxed) as f64
                / last.duration_since(first).as_secs_f64().max(1e-3)
        }
        _ => f64::NAN,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_row_costs_one_produce_and_one_consume() {
        assert_eq!(super::catchup_ceiling(60_000.0, 60_000.0), 30_000.0);
    }
}
