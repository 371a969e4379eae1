//! The broker alone, with the pipeline's client settings: how many records
//! per second it takes and gives, so a bottleneck in the local broker shows
//! as such instead of being blamed on the pipeline (or hidden).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::bench::Report;
use crate::config::Config;
use crate::error::Result;
use crate::kafka::{ClientRole, client_config, ensure_topic};

/// A payload the size of an encoded product record.
const PAYLOAD: [u8; 64] = [7; 64];

pub async fn measure(config: &Config, rows: usize, report: &mut Report) -> Result<()> {
    let topic = format!(
        "bench_broker_{}",
        crate::timestamp::Timestamp::now().micros()
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
    report.set(
        "broker_produce_per_s",
        rows as f64 / started.elapsed().as_secs_f64(),
    );

    let mut consumer_config = config.clone();
    consumer_config.consumer.group_id = format!("{topic}_group");
    let consumer_config = client_config(&consumer_config, ClientRole::Consumer);
    let topic_for_thread = topic.clone();
    let rate = tokio::task::spawn_blocking(move || -> Result<f64> {
        let consumer: BaseConsumer = consumer_config.create()?;
        consumer.subscribe(&[&topic_for_thread])?;
        let mut received = 0;
        let mut first = None;
        let deadline = Instant::now() + Duration::from_secs(300);
        while received < rows && Instant::now() < deadline {
            if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                first.get_or_insert_with(Instant::now);
                received += 1;
            }
        }
        let elapsed = first.map_or(f64::NAN, |first| first.elapsed().as_secs_f64());
        Ok(received as f64 / elapsed)
    })
    .await
    .map_err(|error| crate::Error::Source(format!("broker bench thread: {error}")))??;
    report.set("broker_consume_per_s", rate);
    Ok(())
}
