//! Consuming the wire format: the schema is fetched by the id in each record
//! once, then kept; every later record with that id decodes without the
//! registry or the async runtime (`decode_known`), which is the consumer's hot
//! path: one `block_on` per record cost more than the Avro decode itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use schema_registry_converter::async_impl::schema_registry::{SrSettings, get_schema_by_id};

use crate::codec::avro::record_from_avro;
use crate::record::Record;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The registry could not be reached: retry later, the record is fine.
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    /// The bytes can never be decoded (not the wire format, unknown schema
    /// id, a datum that does not match its schema): a dead letter.
    #[error("{0}")]
    Undecodable(String),
}

/// Decodes wire-format values into records.
pub struct WireDecoder {
    settings: SrSettings,
    /// Writer schemas by id. Ids are immutable in a registry, so an entry
    /// never goes stale; only ids that resolved are kept, so an id unknown
    /// today is asked for again tomorrow.
    schemas: Mutex<HashMap<u32, Arc<Schema>>>,
}

impl WireDecoder {
    pub fn new(settings: SrSettings) -> Self {
        Self {
            settings,
            schemas: Mutex::new(HashMap::new()),
        }
    }

    /// Decodes one value whose schema is already known, synchronously;
    /// `None` when its schema id has not been fetched yet (then `decode`).
    pub fn decode_known(&self, payload: Option<&[u8]>) -> Option<Result<Record, DecodeError>> {
        let (schema_id, datum) = match split(payload) {
            Ok(parts) => parts,
            Err(error) => return Some(Err(error)),
        };
        let schema = self.cached(schema_id)?;
        Some(decode_datum(&schema, schema_id, datum))
    }

    /// Decodes one value, fetching its schema from the registry if needed.
    pub async fn decode(&self, payload: Option<&[u8]>) -> Result<Record, DecodeError> {
        let (schema_id, datum) = split(payload)?;
        let schema = match self.cached(schema_id) {
            Some(schema) => schema,
            None => self.fetch(schema_id).await?,
        };
        decode_datum(&schema, schema_id, datum)
    }

    fn cached(&self, schema_id: u32) -> Option<Arc<Schema>> {
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&schema_id)
            .cloned()
    }

    async fn fetch(&self, schema_id: u32) -> Result<Arc<Schema>, DecodeError> {
        let registered = get_schema_by_id(schema_id, &self.settings)
            .await
            .map_err(|error| {
                let message = format!("schema id {schema_id}: {error}");
                if error.retriable {
                    DecodeError::RegistryUnavailable(message)
                } else {
                    DecodeError::Undecodable(message)
                }
            })?;
        let schema = Schema::parse_str(&registered.schema).map_err(|error| {
            DecodeError::Undecodable(format!(
                "schema id {schema_id}: the registry's schema is not Avro: {error}"
            ))
        })?;
        let schema = Arc::new(schema);
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(schema_id, Arc::clone(&schema));
        Ok(schema)
    }
}

/// The schema id and the Avro datum of a wire-format value.
fn split(payload: Option<&[u8]>) -> Result<(u32, &[u8]), DecodeError> {
    let Some(bytes) = payload else {
        return Err(DecodeError::Undecodable(
            "the record has no value (a tombstone)".into(),
        ));
    };
    if bytes.len() < 5 || bytes[0] != 0 {
        return Err(DecodeError::Undecodable(format!(
            "not the Confluent wire format: expected magic byte 0 and a 4-byte schema id, got {} byte(s) starting {:02x?}",
            bytes.len(),
            &bytes[..bytes.len().min(5)]
        )));
    }
    let schema_id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    Ok((schema_id, &bytes[5..]))
}

fn decode_datum(schema: &Schema, schema_id: u32, mut datum: &[u8]) -> Result<Record, DecodeError> {
    let undecodable =
        |error: String| DecodeError::Undecodable(format!("schema id {schema_id}: {error}"));
    let value = GenericDatumReader::builder(schema)
        .build()
        .and_then(|reader| reader.read_value(&mut datum))
        .map_err(|error| undecodable(error.to_string()))?;
    if !datum.is_empty() {
        return Err(undecodable(format!(
            "{} byte(s) left after the datum",
            datum.len()
        )));
    }
    record_from_avro(value).map_err(undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ValueSchema, WireEncoder};
    use crate::record::FieldValue;

    fn decoder_knowing(schema: &ValueSchema, id: u32) -> WireDecoder {
        let decoder = WireDecoder::new(SrSettings::new("http://127.0.0.1:9".into()));
        decoder
            .schemas
            .lock()
            .unwrap()
            .insert(id, Arc::new(schema.schema.clone()));
        decoder
    }

    fn product_schema() -> ValueSchema {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../schemas/product_value_avro_schema.json");
        ValueSchema::load(&path).unwrap()
    }

    #[test]
    fn a_known_schema_decodes_without_the_registry() {
        let schema = product_schema();
        let record = Record::default()
            .with("id", FieldValue::Int(7))
            .with("name", FieldValue::Text("Lamp".into()))
            .with("category", FieldValue::Text("cat_5".into()))
            .with("price", FieldValue::Double(12.5))
            .with("last_updated", FieldValue::Long(1_764_064_800_123_456));
        let bytes = WireEncoder::with_id(&schema, 3).encode(&record).unwrap();
        let decoder = decoder_knowing(&schema, 3);
        assert_eq!(decoder.decode_known(Some(&bytes)), Some(Ok(record)));
        let mut other_id = bytes.clone();
        other_id[4] = 4;
        assert_eq!(
            decoder.decode_known(Some(&other_id)),
            None,
            "id 4 is not fetched yet"
        );
        let mut longer = bytes;
        longer.push(0);
        assert!(matches!(
            decoder.decode_known(Some(&longer)),
            Some(Err(DecodeError::Undecodable(reason))) if reason.contains("left after the datum")
        ));
    }

    #[test]
    fn bytes_that_are_not_the_wire_format_are_named() {
        let decoder = decoder_knowing(&product_schema(), 1);
        assert!(matches!(
            decoder.decode_known(Some(b"not avro")),
            Some(Err(DecodeError::Undecodable(reason))) if reason.contains("not the Confluent wire format")
        ));
        assert!(matches!(
            decoder.decode_known(None),
            Some(Err(DecodeError::Undecodable(reason))) if reason.contains("tombstone")
        ));
    }
}
