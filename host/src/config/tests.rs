use super::*;

#[test]
fn empty_file_gives_the_seed_defaults() {
    let config = Config::from_toml("", "test").unwrap();
    assert_eq!(config.topic.name, "product_updates");
    assert_eq!(config.topic.partitions, 10);
    assert_eq!(config.consumer.members, 5);
    assert_eq!(config.bootstrap_servers(), "127.0.0.1:9092");
}

#[test]
fn unknown_key_is_named_in_the_error() {
    let error = Config::from_toml("[topic]\npartitons = 3\n", "pipeline.toml").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("pipeline.toml"), "{message}");
    assert!(message.contains("partitons"), "{message}");
    assert!(
        message.contains("partitions"),
        "lists the accepted keys: {message}"
    );
}

#[test]
fn bad_value_is_named_in_the_error() {
    let error = Config::from_toml("[topic]\npartitions = 0\n", "p.toml").unwrap_err();
    assert!(error.to_string().contains("topic.partitions"), "{error}");
    let error = Config::from_toml("[topic]\npartitions = \"ten\"\n", "p.toml").unwrap_err();
    assert!(error.to_string().contains("invalid type"), "{error}");
}

#[test]
fn kafka_map_passes_dotted_librdkafka_keys() {
    let config = Config::from_toml(
        "[kafka]\n\"bootstrap.servers\" = \"pkc.example:9092\"\n\"sasl.mechanisms\" = \"PLAIN\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(config.bootstrap_servers(), "pkc.example:9092");
    assert_eq!(config.kafka["sasl.mechanisms"], "PLAIN");
}

#[test]
fn overrides_set_typed_values_and_dotted_kafka_keys() {
    let mut document = toml::Table::new();
    apply_override(&mut document, "topic.partitions=30", "--set").unwrap();
    apply_override(&mut document, "kafka.security.protocol=SASL_SSL", "--set").unwrap();
    apply_override(&mut document, "mysql.url=mysql://u@h:1/db", "--set").unwrap();
    apply_env_overrides(
        &mut document,
        [("PIPELINE__CONSUMER__MEMBERS".to_owned(), "3".to_owned())],
    )
    .unwrap();
    let config: Config = toml::Value::Table(document).try_into().unwrap();
    assert_eq!(config.topic.partitions, 30);
    assert_eq!(config.kafka["security.protocol"], "SASL_SSL");
    assert_eq!(config.mysql.url, "mysql://u@h:1/db");
    assert_eq!(config.consumer.members, 3);
}

#[test]
fn kafka_numbers_and_booleans_become_text() {
    let config = Config::from_toml(
        "[kafka]\n\"linger.ms\" = 50\n\"enable.idempotence\" = true\n",
        "t",
    )
    .unwrap();
    assert_eq!(config.kafka["linger.ms"], "50");
    assert_eq!(config.kafka["enable.idempotence"], "true");
    let mut document = toml::Table::new();
    apply_override(&mut document, "kafka.linger.ms=50", "--set").unwrap();
    let config: Config = toml::Value::Table(document).try_into().unwrap();
    assert_eq!(config.kafka["linger.ms"], "50");
    let error = Config::from_toml("[kafka]\n\"a\" = [1]\n", "t").unwrap_err();
    assert!(error.to_string().contains("kafka.\"a\""), "{error}");
}

#[test]
fn malformed_override_is_refused() {
    let mut document = toml::Table::new();
    let error = apply_override(&mut document, "topic.partitions", "--set").unwrap_err();
    assert!(error.to_string().contains("section.key=value"), "{error}");
}

#[test]
fn dead_letter_file_destination_parses() {
    let config = Config::from_toml("[dead_letter]\nkind = \"file\"\ndir = \"dlq\"\n", "t").unwrap();
    assert!(matches!(config.dead_letter, DeadLetterConfig::File { .. }));
}

#[test]
fn the_shipped_pipeline_toml_parses_and_runs_the_seed_chain() {
    let config =
        Config::from_toml(include_str!("../../../pipeline.toml"), "pipeline.toml").unwrap();
    let plugins: Vec<_> = config
        .plugins
        .iter()
        .map(|p| p.path.display().to_string())
        .collect();
    assert_eq!(
        plugins,
        [
            "plugins/wasm/uppercase_category.wasm",
            "plugins/wasm/cat5_discount.wasm"
        ]
    );
    assert!(matches!(config.dead_letter, DeadLetterConfig::Kafka { .. }));
}

#[test]
fn the_key_is_key_columns_else_id_column_else_the_primary_key() {
    let config = Config::from_toml("", "t").unwrap();
    assert!(config.source.configured_key().is_empty(), "the primary key");
    assert_eq!(config.source.value_schema_file, None, "derived");
    assert_eq!(
        config.source.decimal_handling,
        super::DecimalHandling::Precise
    );
    let config = Config::from_toml("[source]\nid_column = \"sku\"\n", "t").unwrap();
    assert_eq!(config.source.configured_key(), ["sku"]);
    let config = Config::from_toml(
        "[source]\nid_column = \"sku\"\nkey_columns = [\"region\", \"seq\"]\ndecimal_handling = \"string\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(config.source.configured_key(), ["region", "seq"]);
    assert_eq!(
        config.source.decimal_handling,
        super::DecimalHandling::String
    );
    let shipped =
        Config::from_toml(include_str!("../../../pipeline.toml"), "pipeline.toml").unwrap();
    assert_eq!(
        shipped.source.decimal_handling,
        super::DecimalHandling::Double
    );
    assert!(Config::from_toml("[source]\ndecimal_handling = \"exact\"\n", "t").is_err());
}

const TWO_TABLES: &str = r#"
[source]
table = "product"
position_file = "time_track/last_read_timestamp.json"

[[source.tables]]
name = "orders"
key_columns = ["region", "seq"]
timestamp_column = "changed_at"

[[plugins]]
path = "a.wasm"
tables = ["product"]

[[plugins]]
path = "b.wasm"
"#;

#[test]
fn the_single_table_form_is_one_table() {
    let config = Config::from_toml("[source]\ntable = \"t\"\nid_column = \"k\"\n", "t").unwrap();
    let tables = config.tables();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].name, "t");
    assert_eq!(tables[0].key_columns, ["k"]);
    assert_eq!(tables[0].topic, "product_updates");
    assert_eq!(
        tables[0].position_file,
        std::path::Path::new("time_track/last_read_timestamp.json")
    );
}

#[test]
fn extra_tables_get_a_topic_by_pattern_a_position_file_and_their_plugins() {
    let config = Config::from_toml(TWO_TABLES, "t").unwrap();
    let tables = config.tables();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0].topic, "product_updates", "the seed's topic stays");
    assert_eq!(tables[1].topic, "orders_updates");
    assert_eq!(tables[1].key_columns, ["region", "seq"]);
    assert_eq!(tables[1].timestamp_column, "changed_at");
    assert_eq!(
        tables[1].position_file,
        std::path::Path::new("time_track/last_read_timestamp.orders.json")
    );
    let views = config.table_views();
    assert_eq!(views[0].plugins.len(), 2);
    assert_eq!(views[1].plugins.len(), 1, "a.wasm is for product only");
    assert_eq!(views[1].source.table, "orders");
    assert_eq!(views[1].topic.name, "orders_updates");
    assert!(views[1].source.tables.is_empty());
    assert_eq!(config.topics(), ["product_updates", "orders_updates"]);
}

#[test]
fn table_mistakes_are_refused_naming_the_key_and_the_fix() {
    let cases = [
        (
            "[[source.tables]]\nname = \"product\"\n",
            "source.tables[0].name",
            "list each table once",
        ),
        (
            "[[source.tables]]\nname = \"a\"\n[[source.tables]]\nname = \"a\"\n",
            "source.tables[1].name",
            "list each table once",
        ),
        (
            "[[source.tables]]\nname = \"a\"\ntopic = \"product_updates\"\n",
            "source.tables[0].topic",
            "its own topic",
        ),
        (
            "[topic]\nname_pattern = \"all\"\n[[source.tables]]\nname = \"a\"\n",
            "topic.name_pattern",
            "{table}",
        ),
        (
            "[[source.tables]]\nname = \"a\"\nposition_file = \"time_track/last_read_timestamp.json\"\n",
            "source.tables[0].position_file",
            "its own",
        ),
        (
            "[[plugins]]\npath = \"a.wasm\"\ntables = [\"nope\"]\n",
            "plugins[0].tables",
            "`product`",
        ),
        (
            "[source]\nmode = \"binlog\"\n[[source.tables]]\nname = \"a\"\nposition_file = \"a.json\"\n",
            "source.tables[0].position_file",
            "source.binlog_position_file",
        ),
        (
            "[dead_letter]\nkind = \"kafka\"\ntopic = \"a_updates\"\n[[source.tables]]\nname = \"a\"\n",
            "dead_letter.topic",
            "of their own",
        ),
    ];
    for (text, key, fix) in cases {
        let message = Config::from_toml(text, "p.toml").unwrap_err().to_string();
        assert!(message.contains(key), "{key}: {message}");
        assert!(message.contains(fix), "{fix}: {message}");
    }
}

#[test]
fn several_tables_are_served_in_binlog_mode() {
    let config = Config::from_toml(
        "[source]\nmode = \"binlog\"\n[[source.tables]]\nname = \"a\"\n",
        "p.toml",
    )
    .unwrap();
    assert_eq!(config.tables().len(), 2);
}

#[test]
fn tables_survive_a_round_trip_through_toml() {
    let config = Config::from_toml(TWO_TABLES, "t").unwrap();
    let text = toml::to_string_pretty(&config).unwrap();
    let again = Config::from_toml(&text, "again").unwrap();
    assert_eq!(again.tables(), config.tables());
    assert_eq!(again.plugins[0].tables, ["product"]);
}
