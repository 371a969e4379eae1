//! Producing the wire format: register the schema once, then encode locally.
//!
//! Registration goes through the registry (so its compatibility rules apply
//! and every consumer can resolve the id); the per-record work is only Avro
//! encoding behind a five-byte header.

use apache_avro::Schema;
use schema_registry_converter::async_impl::schema_registry::{SrSettings, post_schema};
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use crate::codec::binary::write_record;
use crate::codec::schema::ValueSchema;
use crate::error::{Error, Result};
use crate::record::Record;

/// Encodes records under one registered schema version.
#[derive(Debug, Clone)]
pub struct WireEncoder {
    schema: Schema,
    schema_id: u32,
    field_names: Vec<String>,
}

impl WireEncoder {
    /// Registers `schema` under `subject` (idempotent: an identical schema gets
    /// its existing id) and returns an encoder for it.
    pub async fn register(
        settings: &SrSettings,
        subject: &str,
        schema: &ValueSchema,
    ) -> Result<Self> {
        let supplied = SuppliedSchema::new(None, SchemaType::Avro, schema.text.clone());
        let registered = post_schema(settings, subject.to_owned(), supplied)
            .await
            .map_err(|error| {
                Error::Registry(format!(
                    "registering the value schema under subject `{subject}` failed: {error}"
                ))
            })?;
        Ok(Self::with_id(schema, registered.id))
    }

    /// An encoder for a schema whose id is already known.
    pub fn with_id(schema: &ValueSchema, schema_id: u32) -> Self {
        Self {
            schema: schema.schema.clone(),
            schema_id,
            field_names: schema.field_names.clone(),
        }
    }

    pub fn schema_id(&self) -> u32 {
        self.schema_id
    }

    /// Whether every field of `record` has a place in this schema.
    pub fn covers(&self, record: &Record) -> bool {
        record
            .fields
            .iter()
            .all(|field| self.field_names.contains(&field.name))
    }

    /// `record` in the Confluent wire format.
    pub fn encode(&self, record: &Record) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(64);
        self.encode_into(record, &mut bytes)?;
        Ok(bytes)
    }

    /// Appends `record` in the Confluent wire format to `bytes` (a buffer the
    /// caller reuses), written straight from the record (see `binary`).
    /// A value the direct writer does not write itself (a decimal, a date:
    /// the catalog's logical types) goes through `apache_avro`, so both
    /// paths accept exactly the records `record_to_avro` does.
    pub fn encode_into(&self, record: &Record, bytes: &mut Vec<u8>) -> Result<()> {
        bytes.push(0);
        bytes.extend_from_slice(&self.schema_id.to_be_bytes());
        let header = bytes.len();
        if write_record(bytes, record, &self.schema).is_ok() {
            return Ok(());
        }
        bytes.truncate(header);
        let value = crate::codec::avro::record_to_avro(record, &self.schema)?;
        let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&self.schema)
            .build()?
            .write_value_to_vec(value)?;
        bytes.extend_from_slice(&datum);
        Ok(())
    }
}

#[cfg(test)]
mod fallback_tests {
    use super::*;
    use crate::record::FieldValue;

    /// A catalog-derived schema with a decimal-as-double and a date: the
    /// direct writer does not write these, the encoder still does.
    #[test]
    fn values_the_direct_writer_leaves_go_through_apache_avro() {
        let schema = ValueSchema::parse(
            r#"{"type":"record","name":"T","fields":[
                {"name":"price","type":"double"},
                {"name":"day","type":{"type":"int","logicalType":"date"}}]}"#,
        )
        .expect("schema");
        let encoder = WireEncoder::with_id(&schema, 9);
        let record = Record::default()
            .with("price", FieldValue::Decimal("123.45".into()))
            .with("day", FieldValue::Int(20_000));
        let bytes = encoder.encode(&record).expect("encodes");
        let mut expected = vec![0, 0, 0, 0, 9];
        expected.extend_from_slice(&123.45f64.to_le_bytes());
        expected.extend_from_slice(&[0xc0, 0xb8, 0x02]);
        assert_eq!(bytes, expected);
    }
}
