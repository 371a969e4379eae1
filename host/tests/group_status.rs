//! `pipeline status` on a running group names every member and the
//! partitions the broker assigned it, and the protocol the group speaks;
//! checked against what each member itself reports owning (its progress
//! snapshot), with five real members on the real broker.
//!
//! `PIPELINE_TEST_GROUP_PROTOCOL=consumer` runs the members with Kafka 4's
//! consumer protocol (`group.protocol = "consumer"` in `[kafka]`), which the
//! classic DescribeGroups reports as a dead group without members (`just
//! test-faults-group-protocol` runs it so).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Harness;
use pipeline::progress::{Snapshot, read_all};

const MEMBERS: u32 = 5;
const PARTITIONS_EACH: usize = 2; // the harness's 10 partitions over 5 members

/// member number → the partitions it reports owning.
fn owned_by_snapshot(harness: &Harness) -> BTreeMap<u32, Vec<i32>> {
    read_all(&harness.path("run/progress"))
        .into_iter()
        .filter_map(|(_, snapshot)| match snapshot {
            Snapshot::Consumer {
                member,
                mut partitions,
                ..
            } => {
                partitions.sort_unstable();
                Some((member, partitions))
            }
            _ => None,
        })
        .collect()
}

/// member number → the partitions `status` lists for client
/// `pipeline-consumer-<n>`, and the group's state line.
fn listed_by_status(status: &str) -> (BTreeMap<u32, Vec<i32>>, String) {
    let state = status
        .lines()
        .find(|line| line.trim_start().starts_with("state "))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let members = status
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pipeline-consumer-")?;
            let (member, _) = rest.split_once(' ')?;
            let (_, list) = rest.split_once("partitions [")?;
            let partitions = list
                .trim_end_matches(']')
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect();
            Some((member.parse().ok()?, partitions))
        })
        .collect();
    (members, state)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_lists_each_member_with_its_partitions_and_the_group_protocol() {
    // The harness passes `$PIPELINE_TEST_GROUP_PROTOCOL` on as `group.protocol`.
    let protocol = common::group_protocol().map(|p| p.to_ascii_lowercase());
    let mut harness = Harness::new("group_status", "");
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(MEMBERS);
    harness.wait_for_stable_group(MEMBERS, PARTITIONS_EACH);

    // A member's snapshot is at most a second old; the two agree once both
    // show the settled assignment.
    let mut status = String::new();
    let mut agreed = false;
    for _ in 0..30 {
        status = harness.run(&["status"]);
        let (listed, _) = listed_by_status(&status);
        let owned = owned_by_snapshot(&harness);
        if listed.len() == MEMBERS as usize && listed == owned {
            agreed = true;
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("{status}");
    let (listed, state) = listed_by_status(&status);
    assert!(
        agreed,
        "status lists {listed:?}, the members report {:?}:\n{status}",
        owned_by_snapshot(&harness)
    );
    let mut all: Vec<i32> = listed.values().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "{status}");
    assert!(
        listed.values().all(|p| p.len() == PARTITIONS_EACH),
        "{status}"
    );
    assert!(state.starts_with("state Stable (5 members)"), "{status}");
    let expected = match protocol.as_deref() {
        Some("consumer") => "consumer protocol",
        _ => "classic protocol, assignor cooperative-sticky",
    };
    assert!(state.contains(expected), "{expected:?} not in:\n{status}");
    pool.disconnect().await.unwrap();
}
