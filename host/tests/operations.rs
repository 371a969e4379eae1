//! Issue 7's operating surface on a running deployment: Prometheus
//! `/metrics` and `/health` on the producer and a member, and `pipeline
//! status` naming members, partitions, lag, the position and the subjects.

mod common;

use std::time::Duration;

use common::Harness;

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect(url);
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_status_describe_a_running_pipeline() {
    let metrics_port = common::free_port();
    let mut harness = Harness::new(
        "operations",
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(2);
    harness.wait_for_stable_group(2, 5);
    harness.spawn("producer", &["produce"]);
    harness.load_seed_and_wait();

    let producer = format!("http://127.0.0.1:{metrics_port}");
    let member_1 = format!("http://127.0.0.1:{}", metrics_port + 1);
    for base in [&producer, &member_1] {
        let (status, _) = get(&format!("{base}/health")).await;
        assert_eq!(status, 200, "{base}/health");
    }
    let (_, producer_metrics) = get(&format!("{producer}/metrics")).await;
    assert!(
        producer_metrics.contains("pipeline_producer_rows_acked_total 50"),
        "{producer_metrics}"
    );
    // The members split the 50 seed records; member 1 reports its share,
    // its partitions and the latency histogram.
    let mut member_metrics = String::new();
    common::wait_until(Duration::from_secs(10), "member 1's counters", || {
        member_metrics = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(get(&format!("{member_1}/metrics")))
        })
        .1;
        member_metrics.contains("pipeline_consumer_written_total")
    });
    assert!(member_metrics.contains("_bucket{"), "{member_metrics}");
    assert!(member_metrics.contains("lag"), "{member_metrics}");

    let status = harness.run(&["status"]);
    for expected in [
        harness.topic.as_str(),
        "producer position",
        "consumer group",
        &format!("{}-value", harness.topic),
        "lag",
    ] {
        assert!(
            status.contains(expected),
            "status lacks {expected:?}:\n{status}"
        );
    }
    pool.disconnect().await.unwrap();
}
