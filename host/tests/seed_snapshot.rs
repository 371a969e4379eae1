//! Pins the transformed output of the 50 seed records (insta snapshot).

mod common;

use std::time::Duration;

use common::Harness;

#[tokio::test(flavor = "multi_thread")]
async fn seed_records_transformed() {
    let mut harness = Harness::new("seed", "");
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(1);
    harness.spawn("producer", &["produce"]);
    harness.run(&["update", "--count", "0"]);
    let mut lines = harness.wait_for_lines(50, Duration::from_secs(60));
    lines.sort_by_key(|line| line.id());
    // The insert trigger stamps each row with the load time: not stable.
    let records: Vec<_> = lines
        .into_iter()
        .map(|line| {
            let mut record = line.record;
            assert!(record.remove("last_updated").is_some_and(|v| v.is_i64()));
            record
        })
        .collect();
    insta::assert_json_snapshot!("seed_records_transformed", records);
    pool.disconnect().await.unwrap();
}
