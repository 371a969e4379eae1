//! The value schema: derived from the catalog (`source::catalog`), or a
//! configured file widened by columns the table has gained since.
//!
//! A column added to the table (say `colour VARCHAR(16) NULL`) must not stop
//! the pipeline or be dropped silently: it becomes an optional field
//! (`["null", type]`, default null) appended to the schema, which is then a
//! new, backward-compatible version of the subject. Consumers decode every
//! version by the id each record carries. The field's type comes from the
//! column's declared type in the catalog, never from the first value read
//! (which may be NULL), so the version registered first is the right one.

use std::path::Path;

use apache_avro::Schema;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde_json::{Value as Json, json};

use crate::config::SchemaRegistryConfig;
use crate::error::{Error, Result};
use crate::record::{FieldValue, Record};

/// The Avro schema of the records produced.
#[derive(Debug, Clone)]
pub struct ValueSchema {
    pub schema: Schema,
    /// The schema as JSON text, as registered.
    pub text: String,
    /// Field names in order.
    pub field_names: Vec<String>,
}

impl ValueSchema {
    /// Loads the schema file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::io(path, error))?;
        Self::parse(&text).map_err(|error| {
            Error::config(
                path.display().to_string(),
                format!("not a usable Avro record schema: {error}"),
            )
        })
    }

    /// Parses a record schema from its JSON text.
    pub fn parse(text: &str) -> Result<Self> {
        let schema = Schema::parse_str(text)?;
        let Schema::Record(record) = &schema else {
            return Err(Error::Source(
                "the value schema must be an Avro record".into(),
            ));
        };
        let field_names = record
            .fields
            .iter()
            .map(|field| field.name.clone())
            .collect();
        Ok(Self {
            text: text.to_owned(),
            schema,
            field_names,
        })
    }

    /// This schema plus an optional field for every field of `sample` it lacks.
    /// Returns `None` when nothing is missing. Types come from the values;
    /// prefer [`Self::widened_with`], which types them from the catalog.
    pub fn widened_for(&self, sample: &Record) -> Result<Option<Self>> {
        self.widened_with(&[], sample)
    }

    /// This schema plus an optional field for every field of `sample` it
    /// lacks, typed from `catalog` (the column's declared type, see
    /// `source::catalog::ColumnKind`), never from the value when the catalog knows
    /// the column: the first value read may be NULL, and a field registered
    /// from it could not hold the integers that follow (a later version with
    /// the right type would then be refused as incompatible).
    pub fn widened_with(&self, catalog: &[CatalogType], sample: &Record) -> Result<Option<Self>> {
        let missing: Vec<_> = sample
            .fields
            .iter()
            .filter(|field| !self.field_names.contains(&field.name))
            .collect();
        if missing.is_empty() {
            return Ok(None);
        }
        let mut document: Json = serde_json::from_str(&self.text)?;
        let fields = document
            .get_mut("fields")
            .and_then(Json::as_array_mut)
            .ok_or_else(|| Error::Source("the value schema has no field list".into()))?;
        for field in missing {
            let avro_type = match catalog.iter().find(|column| column.name == field.name) {
                Some(column) => column.avro_type.clone(),
                None => json!(avro_type_of(&field.value)),
            };
            fields.push(json!({
                "name": field.name,
                "type": ["null", avro_type],
                "default": null,
                "doc": "Added automatically: a column the table gained after the schema file was written."
            }));
        }
        Self::parse(&document.to_string()).map(Some)
    }
}

/// A column's Avro type (schema JSON, without the null union), from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogType {
    pub name: String,
    pub avro_type: Json,
}

/// The Avro type for a column value seen in the table, used only for a
/// column the catalog does not describe; null columns are assumed to hold
/// text.
fn avro_type_of(value: &FieldValue) -> &'static str {
    match value {
        FieldValue::Null | FieldValue::Text(_) => "string",
        FieldValue::Boolean(_) => "boolean",
        FieldValue::Int(_) => "int",
        FieldValue::Long(_) => "long",
        FieldValue::Float(_) => "float",
        FieldValue::Double(_) => "double",
        FieldValue::Bytes(_) => "bytes",
        FieldValue::Decimal(_) => "string",
    }
}

/// Client settings for the configured registry (URL, basic auth, timeout).
pub fn registry_settings(config: &SchemaRegistryConfig) -> Result<SrSettings> {
    let mut builder = SrSettings::new_builder(config.url.trim_end_matches('/').to_owned());
    builder.set_timeout(std::time::Duration::from_secs(10));
    if let Some(credentials) = &config.basic_auth {
        let (user, password) = credentials.split_once(':').ok_or_else(|| {
            Error::config("schema_registry.basic_auth", "expected `user:password`")
        })?;
        builder.set_basic_authorization(user, Some(password));
    }
    builder
        .build()
        .map_err(|error| Error::Registry(format!("{}: {error}", config.url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_schema() -> ValueSchema {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/product_value_avro_schema.json");
        ValueSchema::load(&path).unwrap()
    }

    #[test]
    fn seed_schema_has_the_product_fields() {
        assert_eq!(
            seed_schema().field_names,
            ["id", "name", "category", "price", "last_updated"]
        );
    }

    #[test]
    fn a_new_column_becomes_an_optional_field() {
        let schema = seed_schema();
        let record = Record::default()
            .with("id", FieldValue::Int(1))
            .with("colour", FieldValue::Text("red".into()));
        let widened = schema.widened_for(&record).unwrap().unwrap();
        assert_eq!(
            widened.field_names.last().map(String::as_str),
            Some("colour")
        );
        assert!(widened.text.contains(r#""default":null"#));
        assert!(
            schema
                .widened_for(&Record::default().with("id", FieldValue::Int(1)))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_new_column_is_typed_from_the_catalog_not_its_first_value() {
        let schema = seed_schema();
        let record = Record::default()
            .with("id", FieldValue::Int(1))
            .with("stock", FieldValue::Null);
        let catalog = [CatalogType {
            name: "stock".into(),
            avro_type: json!("int"),
        }];
        let widened = schema.widened_with(&catalog, &record).unwrap().unwrap();
        assert!(
            widened.text.contains(r#""type":["null","int"]"#),
            "{}",
            widened.text
        );
    }

    #[test]
    fn malformed_basic_auth_is_named() {
        let config = SchemaRegistryConfig {
            url: "http://127.0.0.1:1".into(),
            basic_auth: Some("no-colon".into()),
            ..SchemaRegistryConfig::default()
        };
        let message = registry_settings(&config).unwrap_err().to_string();
        assert!(message.contains("schema_registry.basic_auth"), "{message}");
    }
}
