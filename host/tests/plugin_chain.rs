//! The seed chain, the native reference, pass-through, filters, and manifest
//! validation at load.

mod plugin_support;

use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, FieldType, PluginChain, SchemaFields};
use pipeline::record::FieldValue;
use plugin_support::{kept, product, products, schema, wasm};

fn seed_chain() -> PluginChain {
    let plugins = [
        PluginConfig::at(wasm("uppercase_category")),
        PluginConfig::at(wasm("cat5_discount")),
    ];
    PluginChain::load(&plugins, &schema()).unwrap()
}

#[test]
fn seed_chain_uppercases_and_discounts_cat5() {
    let mut chain = seed_chain();
    let outcomes = chain.process(products(1..=10));
    assert_eq!(outcomes.len(), 10);
    for (id, outcome) in (1..=10).zip(&outcomes) {
        let record = kept(outcome);
        let category = format!("CAT_{}", id % 5 + 1);
        assert_eq!(
            record.get("category"),
            Some(&FieldValue::Text(category.clone()))
        );
        let expected = if category == "CAT_5" {
            FieldValue::Double((f64::from(id) * 1.25 * 0.8 * 100.0).round() / 100.0)
        } else {
            FieldValue::Null
        };
        assert_eq!(record.get("discount_price"), Some(&expected), "id {id}");
        assert_eq!(record.get("name"), product(id).get("name"));
        let names: Vec<_> = record.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "name",
                "category",
                "price",
                "last_updated",
                "discount_price"
            ]
        );
    }
    // id 4 is CAT_5 at price 5.0: 4.0
    assert_eq!(
        kept(&outcomes[3]).get("discount_price"),
        Some(&FieldValue::Double(4.0))
    );
}

/// Issue 16: the seed plugins speak the `transform-batch` world; the same
/// transforms built against the first version (`transform`, as a user's
/// existing plugin is) still load, alone or mixed with batch plugins in one
/// chain, and every combination gives the native seed's records.
#[test]
fn plugins_of_both_worlds_load_mix_and_agree() {
    let chain_of = |files: &[&str]| {
        let plugins: Vec<_> = files
            .iter()
            .map(|file| PluginConfig::at(wasm(file)))
            .collect();
        PluginChain::load(&plugins, &schema()).unwrap()
    };
    let (uppercase, cat5) = ("uppercase_category", "cat5_discount");
    let (old_uppercase, old_cat5) = (
        "fixture_rows_uppercase_category",
        "fixture_rows_cat5_discount",
    );
    let batch_world = chain_of(&[uppercase, cat5]);
    assert_eq!(batch_world.worlds(), ["transform-batch", "transform-batch"]);
    let rows_world = chain_of(&[old_uppercase, old_cat5]);
    assert_eq!(rows_world.worlds(), ["transform", "transform"]);
    let mut batch: Vec<_> = products(1..=300);
    for (record, category) in batch.iter_mut().zip(["café_5", "straße", "cat_5"]) {
        record.set("category", FieldValue::Text(category.into()));
    }
    let expected = PluginChain::native_seed().process(batch.clone());
    for mut chain in [
        batch_world,
        rows_world,
        chain_of(&[old_uppercase, cat5]),
        chain_of(&[uppercase, old_cat5]),
        chain_of(&[uppercase, old_uppercase, cat5, old_cat5]),
    ] {
        let versions = chain.versions().to_owned();
        // Twice: the second batch reuses the first one's buffers.
        for _ in 0..2 {
            assert_eq!(chain.process(batch.clone()), expected, "{versions}");
        }
    }
}

#[test]
fn versions_name_each_plugin_with_version_and_hash() {
    let chain = seed_chain();
    let versions: Vec<_> = chain.versions().split(',').collect();
    assert_eq!(versions.len(), 2);
    assert!(
        versions[0].starts_with("uppercase-category@0.1.0#"),
        "{versions:?}"
    );
    assert!(
        versions[1].starts_with("cat5-discount@0.1.0#"),
        "{versions:?}"
    );
    assert_eq!(versions[0].split('#').nth(1).map(str::len), Some(8));
}

#[test]
fn native_seed_matches_the_wasm_chain() {
    let mut wasm_chain = seed_chain();
    let mut native = PluginChain::native_seed();
    let batch = products(1..=500);
    assert_eq!(wasm_chain.process(batch.clone()), native.process(batch));
}

#[test]
fn empty_chain_passes_records_through() {
    let mut chain = PluginChain::load(&[], &schema()).unwrap();
    let batch = products(1..=3);
    let outcomes = chain.process(batch.clone());
    assert_eq!(
        outcomes,
        batch
            .into_iter()
            .map(ChainOutcome::Keep)
            .collect::<Vec<_>>()
    );
    assert_eq!(chain.versions(), "");
}

#[test]
fn price_filter_drops_non_positive_prices_and_counts_them() {
    let mut chain =
        PluginChain::load(&[PluginConfig::at(wasm("price_filter"))], &schema()).unwrap();
    let mut batch = products(1..=4);
    batch[1].set("price", FieldValue::Double(0.0));
    batch[2].set("price", FieldValue::Double(-3.5));
    let outcomes = chain.process(batch);
    kept(&outcomes[0]);
    kept(&outcomes[3]);
    for outcome in &outcomes[1..3] {
        match outcome {
            ChainOutcome::Dropped { plugin, reason } => {
                assert_eq!(plugin, "price-filter");
                assert!(reason.contains("not positive"), "{reason}");
            }
            other => panic!("expected Dropped, got {other:?}"),
        }
    }
    let stats = &chain.stats()[0];
    assert_eq!(
        (
            stats.records_in,
            stats.records_out,
            stats.dropped,
            stats.failed
        ),
        (4, 2, 2, 0)
    );
}

#[test]
fn a_plugin_reading_a_missing_field_is_refused_at_load() {
    let no_category = SchemaFields::new([
        ("id", FieldType::Int, false),
        ("price", FieldType::Double, false),
    ]);
    let error = PluginChain::load(
        &[PluginConfig::at(wasm("uppercase_category"))],
        &no_category,
    )
    .map(drop)
    .expect_err("load must fail");
    assert!(
        error.to_string().contains("reads field `category`"),
        "{error}"
    );
}

#[test]
fn a_plugin_retyping_a_schema_field_is_refused_at_load() {
    let mut fields: Vec<_> = schema()
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.ty, f.optional))
        .collect();
    fields.push(("discount_price".into(), FieldType::Text, true));
    let error = PluginChain::load(
        &[PluginConfig::at(wasm("cat5_discount"))],
        &SchemaFields::new(fields),
    )
    .map(drop)
    .expect_err("load must fail");
    assert!(
        error
            .to_string()
            .contains("writes field `discount_price` as double, but it is string"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.wasm");
    std::fs::write(&path, b"not wasm").unwrap();
    let error = PluginChain::load(&[PluginConfig::at(&path)], &schema())
        .map(drop)
        .expect_err("load must fail");
    assert!(
        error
            .to_string()
            .contains("not a valid WebAssembly component"),
        "{error}"
    );
}

#[test]
fn chain_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<PluginChain>();
}

/// Issue 17 items 14 and 16: money in decimal, rounded half away from zero,
/// and Unicode upper-casing, identical in the wasm plugins and the native twin.
#[test]
fn decimal_cents_and_unicode_upper_case_in_wasm_and_native() {
    let cases = [
        ("cat_5", 1.29375, Some(1.04)), // 80% is exactly 1.035
        ("cat_5", -1.29375, Some(-1.04)),
        ("cat_5", 1_000_000.156_25, Some(800_000.13)), // 800000.125
        ("cat_5", 40.86, Some(32.69)),
        ("cat_5", 1e20, Some(8e19)),
        ("café_5", 10.0, None),
        ("straße", 10.0, None),
    ];
    let batch: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(index, (category, price, _))| {
            let mut record = product(index as i32 + 1);
            record.set("category", FieldValue::Text((*category).into()));
            record.set("price", FieldValue::Double(*price));
            record
        })
        .collect();
    let wasm_outcomes = seed_chain().process(batch.clone());
    let native_outcomes = PluginChain::native_seed().process(batch);
    assert_eq!(wasm_outcomes, native_outcomes);
    for (outcome, (category, price, discount)) in wasm_outcomes.iter().zip(cases) {
        let record = kept(outcome);
        let expected = discount.map_or(FieldValue::Null, FieldValue::Double);
        assert_eq!(
            record.get("discount_price"),
            Some(&expected),
            "price {price}"
        );
        let upper = match category {
            "café_5" => "CAFÉ_5",
            "straße" => "STRASSE",
            _ => "CAT_5",
        };
        assert_eq!(
            record.get("category"),
            Some(&FieldValue::Text(upper.into()))
        );
    }
}
