//! Issue 3's acceptance: updater → producer → five consumers against real
//! MariaDB, nisshi and the project's registry, run as separate processes.
//! With `PIPELINE_TEST_SOURCE_MODE=binlog` (`just test-faults-binlog`) the
//! same tests run in binlog mode, the updater also deletes, and the logs
//! must hold MySQL's full history (`common::logs::assert_full_history`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::Harness;
use common::logs::assert_exactly_once;

/// Every update appears exactly once across the five logs, transformed; each
/// member owned exactly two partitions; per product, the logs hold its
/// updates in commit order.
#[tokio::test(flavor = "multi_thread")]
async fn every_update_appears_exactly_once_across_five_members() {
    let mut harness = Harness::new("e2e", "");
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);

    // 50 seed inserts, then 500 updates: round-robin over the 50 products
    // at SAFE_RATE touches each product every 2 s, so no two changes of a
    // row coalesce.
    // The seed inserts land first: an update right after an insert would
    // coalesce with it (polling delivers the latest state).
    harness.load_seed_and_wait();
    harness.update_round_robin(500, 50, 1);
    let history = harness.history(&pool).await;
    assert_eq!(common::logs::writer_changes(&history), 550);
    if harness.is_binlog() {
        assert_eq!(
            history.len(),
            600,
            "every 10th change deleted and re-inserted"
        );
    }
    let lines = harness.wait_for_lines(history.len(), Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(1)); // anything extra would show now
    let lines_after = harness.log_lines();
    assert_eq!(
        lines_after.len(),
        lines.len(),
        "lines kept arriving after every change was logged"
    );

    assert_exactly_once(&history, &lines_after);

    let mut partitions_by_member: BTreeMap<u32, BTreeSet<i32>> = BTreeMap::new();
    for line in &lines_after {
        assert_eq!(
            line.member, line.file_member,
            "a member writes only its own log"
        );
        partitions_by_member
            .entry(line.member)
            .or_default()
            .insert(line.partition);
    }
    assert_eq!(
        partitions_by_member.len(),
        5,
        "all five members wrote: {partitions_by_member:?}"
    );
    for (member, partitions) in &partitions_by_member {
        assert_eq!(
            partitions.len(),
            2,
            "member {member} handled exactly two partitions: {partitions:?}"
        );
    }
    let all: BTreeSet<i32> = partitions_by_member.values().flatten().copied().collect();
    assert_eq!(
        all,
        (0..10).collect(),
        "the ten partitions are split across the members"
    );
    pool.disconnect().await.unwrap();
}

/// Restarting the producer resumes from the saved position: nothing lost,
/// nothing repeated.
#[tokio::test(flavor = "multi_thread")]
async fn producer_restart_resumes_from_the_saved_position() {
    let mut harness = Harness::new("restart", "");
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(2);
    harness.spawn("producer", &["produce"]);
    harness.load_seed_and_wait();
    harness.update_round_robin(150, 50, 1);
    harness.wait_for_lines(200, Duration::from_secs(60));

    harness.stop("producer", libc::SIGTERM);
    let saved = std::fs::read_to_string(harness.position_file()).unwrap();
    let field = if harness.is_binlog() {
        "binlog_offset"
    } else {
        "last_read_id"
    };
    assert!(saved.contains(field), "position saved on shutdown: {saved}");
    // Changes made while the producer is down are picked up after restart.
    // One change per product: two changes of one row while nobody polls
    // coalesce into its latest state (polling CDC sees rows, not a binlog).
    harness.update_round_robin(50, 50, 2);
    harness.spawn("producer2", &["produce"]);
    let history = harness.history(&pool).await;
    assert_eq!(common::logs::writer_changes(&history), 250);
    harness.wait_for_lines(history.len(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    assert_exactly_once(&history, &harness.log_lines());
    pool.disconnect().await.unwrap();
}

/// The binlog-mode check has teeth: a re-sent copy, a missing delete and
/// an intermediate state out of order each fail it.
#[test]
fn the_full_history_check_catches_doubles_gaps_and_reordering() {
    use common::logs::{Change, Line, assert_full_history};
    let change = |op: &str, stamp: i64| Change {
        op: op.into(),
        id: 7,
        last_updated: stamp,
        name: "n".into(),
        category: "cat_1".into(),
        price: 1.0,
    };
    let line = |op: &str, stamp: i64, seq: i64, offset: i64| {
        let record = serde_json::json!({
            "id": 7, "last_updated": stamp, "name": "n", "category": "CAT_1",
            "price": 1.0, "discount_price": null, "__op": op, "__seq": seq,
        });
        Line {
            member: 1,
            file_member: 1,
            partition: 0,
            offset,
            record: record.as_object().unwrap().clone(),
        }
    };
    let history = [
        change("c", 1),
        change("u", 2),
        change("d", 2),
        change("c", 3),
    ];
    let good = vec![
        line("c", 1, 10, 0),
        line("u", 2, 20, 1),
        line("d", 2, 30, 2),
        line("c", 3, 40, 4),
    ];
    assert_full_history(&history, &good);
    let fails = |lines: Vec<Line>| {
        std::panic::catch_unwind(|| assert_full_history(&history, &lines)).is_err()
    };
    let mut doubled = good.clone();
    doubled.push(line("u", 2, 20, 5));
    assert!(fails(doubled), "a re-sent copy");
    let mut gap = good.clone();
    gap.remove(2);
    assert!(fails(gap), "a missing delete");
    let mut reordered = good.clone();
    reordered.swap(0, 1);
    reordered[0].offset = 0;
    reordered[1].offset = 1;
    assert!(fails(reordered), "states out of order");
}
