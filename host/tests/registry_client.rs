//! The pipeline's own registry client (`schema_registry_converter`) against our registry:
//! it registers the product schema on encode and resolves it by id on decode.

use apache_avro::types::Value;
use pipeline::config::RegistryServerConfig;
use pipeline::registry::bind;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

#[tokio::test]
async fn schema_registry_converter_registers_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let registry = bind(&RegistryServerConfig {
        listen: "127.0.0.1:0".into(),
        storage_file: dir.path().join("registry.json"),
        basic_auth: None,
        max_body_bytes: 1024 * 1024,
        ..RegistryServerConfig::default()
    })
    .await
    .unwrap();
    let schema_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/product_value_avro_schema.json"
    );
    let schema = std::fs::read_to_string(schema_file).unwrap();

    let settings = SrSettings::new_builder(registry.url())
        .no_proxy()
        .build()
        .unwrap();
    let encoder = AvroEncoder::new(settings.clone());
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        "product_updates".into(),
        false,
        SuppliedSchema::new(None, SchemaType::Avro, schema),
    );
    let fields = vec![
        ("id", Value::Int(42)),
        ("name", Value::String("kettle".into())),
        ("category", Value::String("cat_3".into())),
        ("price", Value::Double(19.5)),
        (
            "last_updated",
            Value::TimestampMicros(1_700_000_000_000_000),
        ),
    ];
    let bytes = encoder.encode(fields.clone(), strategy).await.unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1], "magic byte then schema id 1");

    let response: serde_json::Value = reqwest::get(format!(
        "{}/subjects/product_updates-value/versions/latest",
        registry.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        (response["version"].as_u64(), response["id"].as_u64()),
        (Some(1), Some(1))
    );

    // A fresh decoder has no cache: it must fetch the schema by id from the registry.
    let decoded = AvroDecoder::new(settings)
        .decode(Some(&bytes))
        .await
        .unwrap();
    let expected = Value::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
    );
    assert_eq!(decoded.value, expected);
}
