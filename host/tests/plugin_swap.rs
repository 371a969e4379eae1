//! Hot swap: a changed plugin file is compiled in the background and swapped
//! in between two batches; every record is processed by exactly one version;
//! a bad file is refused and the running version keeps going.

mod plugin_support;

use std::path::Path;
use std::time::{Duration, Instant};

use pipeline::config::PluginConfig;
use pipeline::plugin::{FieldType, PluginChain, SchemaFields};
use pipeline::record::FieldValue;
use plugin_support::{id_of, kept, products, schema, wasm};

const BATCH: i32 = 100;

/// Replaces `path` the safe way: write a temporary file, rename it over.
fn rename_into_place(source: &Path, path: &Path) {
    let temporary = path.with_extension("wasm.tmp");
    std::fs::copy(source, &temporary).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn category(record: &pipeline::record::Record) -> String {
    match record.get("category") {
        Some(FieldValue::Text(text)) => text.clone(),
        other => panic!("no category: {other:?}"),
    }
}

#[test]
fn swap_under_load_loses_nothing_and_switches_once() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("category.wasm");
    std::fs::copy(wasm("uppercase_category"), &plugin).unwrap();
    let plugins = [
        PluginConfig::at(&plugin),
        PluginConfig::at(wasm("cat5_discount")),
    ];
    let mut chain = PluginChain::load(&plugins, &schema()).unwrap();
    let before = chain.versions().to_owned();
    assert!(before.starts_with("uppercase-category@0.1.0#"), "{before}");

    let started = Instant::now();
    let mut next_id = 1;
    let mut seen = Vec::new(); // (id, category) in output order
    let mut swaps = Vec::new(); // the first id processed after each swap
    let mut batches_after_swap = 0;
    while seen.len() < 3_000 || batches_after_swap < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no swap within 2 minutes"
        );
        if next_id == 10 * BATCH + 1 {
            rename_into_place(&wasm("fixture_category_v2"), &plugin);
        }
        let ids = next_id..=next_id + BATCH - 1;
        next_id += BATCH;
        for outcome in chain.process(products(ids)) {
            let record = kept(&outcome);
            seen.push((id_of(record), category(record)));
        }
        let events = chain.swap_in_ready();
        if !events.is_empty() {
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0].plugin, "uppercase-category");
            assert_eq!(events[0].from, before.split(',').next().unwrap());
            swaps.push(next_id);
        }
        if !swaps.is_empty() {
            batches_after_swap += 1;
        }
    }

    // No loss, no duplicates, order kept.
    let ids: Vec<i32> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..next_id).collect::<Vec<_>>());
    // One switch-over, between two batches, exactly where the swap was installed.
    assert_eq!(swaps.len(), 1);
    let switch = swaps[0];
    for (id, category) in &seen {
        let expected = format!("CAT_{}", id % 5 + 1);
        if *id < switch {
            assert_eq!(category, &expected, "id {id} before the swap at {switch}");
        } else {
            assert_eq!(
                category,
                &format!("V2_{expected}"),
                "id {id} after the swap at {switch}"
            );
        }
    }
    let after = chain.versions();
    assert!(after.starts_with("uppercase-category@0.2.0#"), "{after}");
    assert_ne!(after, before);
    assert_eq!(
        after.split(',').nth(1),
        before.split(',').nth(1),
        "cat5-discount unchanged"
    );
    assert_eq!(chain.stats()[0].version, after.split(',').next().unwrap());
}

/// Processes one batch and checks the running version is v1.
fn still_v1(chain: &mut PluginChain) {
    for outcome in chain.process(products(1..=5)) {
        assert!(category(kept(&outcome)).starts_with("CAT_"));
    }
    assert!(chain.swap_in_ready().is_empty());
}

/// Keeps processing until `chain` counts `count` rejected versions.
fn wait_for_rejections(chain: &mut PluginChain, count: u64) {
    let started = Instant::now();
    while chain.rejected_versions() < count {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the bad file was never looked at"
        );
        still_v1(chain);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_corrupt_or_partial_file_is_rejected_and_the_old_version_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("category.wasm");
    std::fs::copy(wasm("uppercase_category"), &plugin).unwrap();
    let mut chain = PluginChain::load(&[PluginConfig::at(&plugin)], &schema()).unwrap();
    let before = chain.versions().to_owned();

    // Overwritten in place, only half written so far.
    let v2 = std::fs::read(wasm("fixture_category_v2")).unwrap();
    std::fs::write(&plugin, &v2[..v2.len() / 2]).unwrap();
    wait_for_rejections(&mut chain, 1);
    assert_eq!(chain.versions(), before);

    // The write completes: the next poll compiles the whole file.
    std::fs::write(&plugin, &v2).unwrap();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the complete file was never swapped in"
        );
        if !chain.swap_in_ready().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(chain.versions().starts_with("uppercase-category@0.2.0#"));
    let outcomes = chain.process(products(1..=1));
    assert_eq!(category(kept(&outcomes[0])), "V2_CAT_2");
}

#[test]
fn a_version_that_no_longer_fits_the_schema_is_refused_at_swap() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("category.wasm");
    std::fs::copy(wasm("uppercase_category"), &plugin).unwrap();
    let no_price = SchemaFields::new([
        ("id", FieldType::Int, false),
        ("category", FieldType::Text, false),
    ]);
    let mut chain = PluginChain::load(&[PluginConfig::at(&plugin)], &no_price).unwrap();
    let before = chain.versions().to_owned();

    // price-filter compiles, but reads `price`, which this schema lacks.
    rename_into_place(&wasm("price_filter"), &plugin);
    let started = Instant::now();
    while chain.rejected_versions() < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the new file was never looked at"
        );
        assert!(chain.swap_in_ready().is_empty());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(chain.versions(), before);
    let record = pipeline::record::Record::default()
        .with("id", FieldValue::Int(1))
        .with("category", FieldValue::Text("cat_1".into()));
    assert_eq!(category(kept(&chain.process(vec![record])[0])), "CAT_1");
}
