//! `pipeline status`: the consumer group (members, partitions, committed
//! offsets, lag), the producer's saved position and the registry's subjects,
//! read from the broker, the position file and the registry themselves.

use std::fmt::Write as _;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::{
    ClientRole, GroupDescription, GroupProtocol, MemberDescription, client_config, describe_group,
};
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
    let _ = writeln!(out, "consumer group      {group_id}");
    match describe_group(consumer.client(), group_id, TIMEOUT) {
        Ok(group) => out.push_str(&group_lines(&group, topic)),
        Err(error) => {
            let _ = writeln!(out, "  members unavailable: {error}");
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

/// The group's state and protocol, then a line per member: its client id
/// (its member id when the broker gave none), host and partitions.
fn group_lines(group: &GroupDescription, topic: &str) -> String {
    let mut out = String::new();
    if group.members.is_empty() {
        // No member to speak a protocol: librdkafka's fallback to the
        // classic DescribeGroups calls an unknown group a classic one.
        let _ = write!(out, "  state {} (no members)", group.state);
    } else {
        let protocol = match group.protocol {
            Some(GroupProtocol::Classic) => "classic protocol",
            Some(GroupProtocol::Consumer) => "consumer protocol",
            None => "protocol not described",
        };
        let _ = write!(
            out,
            "  state {} ({} members), {protocol}",
            group.state,
            group.members.len()
        );
        if !group.assignor.is_empty() {
            let _ = write!(out, ", assignor {}", group.assignor);
        }
    }
    out.push('\n');
    if let Some(error) = &group.error {
        let _ = writeln!(out, "  the coordinator answered: {error}");
    }
    let mut members: Vec<&MemberDescription> = group.members.iter().collect();
    members.sort_by(|a, b| (&a.client_id, &a.member_id).cmp(&(&b.client_id, &b.member_id)));
    for member in members {
        let name = if member.client_id.is_empty() {
            format!("member {}", member.member_id)
        } else {
            member.client_id.clone()
        };
        let host = if member.host.is_empty() {
            "-"
        } else {
            &member.host
        };
        let _ = writeln!(
            out,
            "  {name:<26} {host:<18} partitions {}",
            partitions_text(&member.partitions, topic)
        );
    }
    out
}

/// `[3, 7]` for partitions of the pipeline's topic, `other [0]` after them
/// for another topic's, `none` for a member assigned nothing (yet).
fn partitions_text(partitions: &[(String, i32)], topic: &str) -> String {
    if partitions.is_empty() {
        return "none".to_owned();
    }
    let mut topics: Vec<&str> = partitions.iter().map(|(t, _)| t.as_str()).collect();
    topics.sort_by_key(|t| (*t != topic, *t));
    topics.dedup();
    let mut text = Vec::new();
    for name in topics {
        let mut numbers: Vec<i32> = partitions
            .iter()
            .filter(|(t, _)| t == name)
            .map(|&(_, p)| p)
            .collect();
        numbers.sort_unstable();
        if name == topic {
            text.push(format!("{numbers:?}"));
        } else {
            text.push(format!("{name} {numbers:?}"));
        }
    }
    text.join(" ")
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
    use super::*;

    fn member(client_id: &str, partitions: &[(&str, i32)]) -> MemberDescription {
        MemberDescription {
            member_id: format!("{client_id}-id"),
            client_id: client_id.to_owned(),
            host: "/127.0.0.1".to_owned(),
            partitions: partitions.iter().map(|&(t, p)| (t.to_owned(), p)).collect(),
        }
    }

    #[test]
    fn members_are_listed_with_their_partitions_and_the_protocol() {
        let group = GroupDescription {
            protocol: Some(GroupProtocol::Consumer),
            state: "Stable".to_owned(),
            assignor: "uniform".to_owned(),
            members: vec![
                member("pipeline-consumer-2", &[("t", 7), ("t", 3)]),
                member("pipeline-consumer-1", &[("t", 0), ("other", 1)]),
                member("", &[]),
            ],
            error: None,
        };
        let text = group_lines(&group, "t");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "  state Stable (3 members), consumer protocol, assignor uniform"
        );
        assert!(lines[1].starts_with("  member -id "), "{text}");
        assert!(lines[1].ends_with("partitions none"), "{text}");
        assert!(lines[2].starts_with("  pipeline-consumer-1 "), "{text}");
        assert!(lines[2].ends_with("partitions [0] other [1]"), "{text}");
        assert!(lines[3].ends_with("partitions [3, 7]"), "{text}");

        let gone = GroupDescription {
            protocol: Some(GroupProtocol::Classic),
            state: "Dead".to_owned(),
            assignor: String::new(),
            members: Vec::new(),
            error: None,
        };
        assert_eq!(group_lines(&gone, "t"), "  state Dead (no members)\n");
    }
}
