//! Consuming the wire format: the schema is fetched by the id in each record
//! and cached (by `schema_registry_converter`'s decoder).

use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;

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
    decoder: AvroDecoder,
}

impl WireDecoder {
    pub fn new(settings: SrSettings) -> Self {
        Self {
            decoder: AvroDecoder::new(settings),
        }
    }

    /// Decodes one value.
    pub async fn decode(&self, payload: Option<&[u8]>) -> Result<Record, DecodeError> {
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
        match self.decoder.decode(Some(bytes)).await {
            Ok(result) => record_from_avro(result.value).map_err(|error| {
                DecodeError::Undecodable(format!("schema id {schema_id}: {error}"))
            }),
            Err(error) if error.retriable => Err(DecodeError::RegistryUnavailable(format!(
                "schema id {schema_id}: {error}"
            ))),
            Err(error) => {
                // A transient 404 (a registry that just restarted) is cached as
                // final by the client; clear it so the next record asks again.
                self.decoder.remove_errors_from_cache();
                Err(DecodeError::Undecodable(format!(
                    "schema id {schema_id}: {error}"
                )))
            }
        }
    }
}
