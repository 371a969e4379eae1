//! `pipeline status`: the consumer group (members, partitions, committed
//! offsets, lag), the producer's saved position and the registry's subjects,
//! read from the broker, the position file and the registry themselves.

use std::fmt::Write as _;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config};
use crate::source::PositionFile;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The status report as text.
pub async fn report(config: &Config) -> Result<String> {
    let mut out = String::new();
    let position = match PositionFile::new(&config.source.position_file).load() {
        Ok(Some(position)) => position.to_string(),
        Ok(None) => "none yet (starts from the beginning)".to_owned(),
        Err(error) => format!("unreadable: {error}"),
    };
    let _ = writeln!(out, "producer position   {position}");
    let _ = writeln!(
        out,
        "                    ({})",
        config.source.position_file.display()
    );

    let config_for_kafka = config.clone();
    let group = tokio::task::spawn_blocking(move || group_report(&config_for_kafka))
        .await
        .map_err(|error| Error::task_failed("status task", error))?;
    match group {
        Ok(text) => out.push_str(&text),
        Err(error) => {
            let _ = writeln!(out, "consumer group      unavailable: {error}");
        }
    }

    match subjects(config).await {
        Ok(subjects) => {
            let _ = writeln!(out, "registry subjects   {}", subjects.join(", "));
        }
        Err(error) => {
            let _ = writeln!(out, "registry subjects   unavailable: {error}");
        }
    }
    Ok(out)
}

fn group_report(config: &Config) -> Result<String> {
    let mut out = String::new();
    let consumer: BaseConsumer = client_config(config, ClientRole::Consumer)
        .set("client.id", "pipeline-status")
        .create()?;
    let topic = &config.topic.name;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    let group_id = &config.consumer.group_id;
    let groups = consumer.fetch_group_list(Some(group_id), TIMEOUT)?;
    let _ = writeln!(out, "consumer group      {group_id}");
    for group in groups.groups() {
        let _ = writeln!(
            out,
            "  state {} ({} members)",
            group.state(),
            group.members().len()
        );
        let mut members: Vec<_> = group.members().iter().collect();
        members.sort_by_key(|m| m.client_id().to_owned());
        for member in members {
            let assigned = member
                .assignment()
                .map(parse_assignment)
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<26} {:<18} partitions {:?}",
                member.client_id(),
                member.client_host(),
                assigned
            );
        }
    }
    let mut list = TopicPartitionList::new();
    for &partition in &partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(list, TIMEOUT)?;
    let _ = writeln!(out, "  partition  committed  high-watermark  lag");
    let mut total_lag = 0;
    for &partition in &partitions {
        let (_, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        let committed_offset =
            committed
                .find_partition(topic, partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                });
        let lag = high - committed_offset.unwrap_or(0);
        total_lag += lag;
        let committed_text = committed_offset.map_or("-".to_owned(), |o| o.to_string());
        let _ = writeln!(
            out,
            "  {partition:>9}  {committed_text:>9}  {high:>14}  {lag:>3}"
        );
    }
    let _ = writeln!(out, "  total lag {total_lag}");
    Ok(out)
}

/// The partitions in a consumer-protocol assignment (version, then an array
/// of topics with their partition arrays; big-endian, Kafka's encoding).
fn parse_assignment(bytes: &[u8]) -> Vec<i32> {
    let mut partitions = read_assignment(bytes).unwrap_or_default();
    partitions.sort_unstable();
    partitions
}

fn read_assignment(mut bytes: &[u8]) -> Option<Vec<i32>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = tail;
        Some(head)
    }
    fn int32(bytes: &mut &[u8]) -> Option<i32> {
        Some(i32::from_be_bytes(take(bytes, 4)?.try_into().ok()?))
    }
    take(&mut bytes, 2)?; // version
    let mut partitions = Vec::new();
    for _ in 0..int32(&mut bytes)?.max(0) {
        let name_length = i16::from_be_bytes(take(&mut bytes, 2)?.try_into().ok()?);
        take(&mut bytes, name_length.max(0) as usize)?;
        for _ in 0..int32(&mut bytes)?.max(0) {
            partitions.push(int32(&mut bytes)?);
        }
    }
    Some(partitions)
}

async fn subjects(config: &Config) -> Result<Vec<String>> {
    let url = format!(
        "{}/subjects",
        config.schema_registry.url.trim_end_matches('/')
    );
    let mut request = reqwest::Client::new().get(&url).timeout(TIMEOUT);
    if let Some((user, password)) = config
        .schema_registry
        .basic_auth
        .as_deref()
        .and_then(|a| a.split_once(':'))
    {
        request = request.basic_auth(user, Some(password));
    }
    let response = request
        .send()
        .await
        .map_err(|error| Error::Registry(format!("{url}: {error}")))?;
    response
        .json()
        .await
        .map_err(|error| Error::Registry(format!("{url}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::parse_assignment;

    #[test]
    fn consumer_protocol_assignment_parses() {
        let mut bytes = vec![0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        bytes.extend_from_slice(&7i32.to_be_bytes());
        bytes.extend_from_slice(&3i32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(parse_assignment(&bytes), [3, 7]);
        assert!(parse_assignment(&[1, 2]).is_empty());
    }
}
