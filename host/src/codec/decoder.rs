//! Consuming the wire format: the schema is fetched by the id in each record
//! once, then kept; every later record with that id decodes without the
//! registry or the async runtime (`decode_known`), which is the consumer's hot
//! path: one `block_on` per record cost more than the Avro decode itself.
//!
//! The one rule for registry errors: **only a definite "no such schema" makes
//! a dead letter**, and only once it has lasted `missing_schema_wait`. That is
//! a 404 carrying Confluent's error code 40403, repeated for the whole window
//! (a lagging registry replica can answer 40403 for an id registered a moment
//! ago). Everything else the registry can answer - no connection, a timeout,
//! 408, 429, 5xx, 401/403 (credentials an operator must fix), a 404 without
//! 40403 (a proxy, a wrong URL), a body that is not the registry's JSON - says
//! nothing about the record, so it is `RegistryUnavailable` and the member
//! waits with backoff instead of dead-lettering healthy records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use reqwest::StatusCode;

use crate::codec::avro::record_from_avro;
use crate::codec::binary::ReadPlan;
use crate::config::SchemaRegistryConfig;
use crate::error::{Error, Result};
use crate::record::Record;

/// Confluent's error code for "schema id not found".
const SCHEMA_NOT_FOUND: i64 = 40403;

/// How long one registry request may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The registry could not give the schema now (unreachable, overloaded,
    /// misconfigured, or a "not found" still inside its confirmation window):
    /// retry later, the record is fine.
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    /// The bytes can never be decoded (not the wire format, a schema id the
    /// registry has denied for the whole window, a datum that does not match
    /// its schema): a dead letter.
    #[error("{0}")]
    Undecodable(String),
}

/// Decodes wire-format values into records.
pub struct WireDecoder {
    registry: RegistryLookup,
    /// Writer schemas by id. Ids are immutable in a registry, so an entry
    /// never goes stale; only ids that resolved are kept, so an id unknown
    /// today is asked for again tomorrow.
    schemas: Mutex<HashMap<u32, Arc<KnownSchema>>>,
    /// When the registry first answered 40403 for an id (since its last
    /// success): the start of that id's confirmation window.
    missing_since: Mutex<HashMap<u32, Instant>>,
    missing_schema_wait: Duration,
}

impl WireDecoder {
    /// A decoder asking the configured registry (URL, basic auth,
    /// `missing_schema_wait_ms`).
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self> {
        Ok(Self {
            registry: RegistryLookup::new(config)?,
            schemas: Mutex::new(HashMap::new()),
            missing_since: Mutex::new(HashMap::new()),
            missing_schema_wait: Duration::from_millis(config.missing_schema_wait_ms),
        })
    }

    /// A decoder that already knows `schema` as `schema_id` and has no
    /// registry to ask (benchmarks and tests).
    pub fn knowing(schema: &crate::codec::ValueSchema, schema_id: u32) -> Result<Self> {
        let decoder = Self::new(&SchemaRegistryConfig {
            url: "http://127.0.0.1:9".into(),
            ..SchemaRegistryConfig::default()
        })?;
        decoder
            .schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(schema_id, Arc::new(KnownSchema::new(schema.schema.clone())));
        Ok(decoder)
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

    fn cached(&self, schema_id: u32) -> Option<Arc<KnownSchema>> {
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&schema_id)
            .cloned()
    }

    async fn fetch(&self, schema_id: u32) -> Result<Arc<KnownSchema>, DecodeError> {
        let text = match self.registry.schema_text(schema_id).await {
            Lookup::Found(text) => text,
            Lookup::NotFound(message) => return Err(self.not_found(schema_id, message)),
            Lookup::NotAvro(message) => {
                return Err(DecodeError::Undecodable(format!(
                    "schema id {schema_id}: {message}"
                )));
            }
            Lookup::Unavailable(message) => {
                return Err(DecodeError::RegistryUnavailable(format!(
                    "schema id {schema_id}: {message}"
                )));
            }
        };
        self.missing_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&schema_id);
        let schema = Schema::parse_str(&text).map_err(|error| {
            DecodeError::Undecodable(format!(
                "schema id {schema_id}: the registry's schema is not a self-contained Avro schema: {error}"
            ))
        })?;
        let schema = Arc::new(KnownSchema::new(schema));
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(schema_id, Arc::clone(&schema));
        Ok(schema)
    }

    /// A 40403: unavailable until the id has been missing for the whole
    /// window, then a dead letter (and at once for later records of that id).
    fn not_found(&self, schema_id: u32, message: String) -> DecodeError {
        let first_seen = *self
            .missing_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(schema_id)
            .or_insert_with(Instant::now);
        let missing_for = first_seen.elapsed();
        if missing_for >= self.missing_schema_wait {
            DecodeError::Undecodable(format!(
                "schema id {schema_id}: the registry has no such schema ({message}), for {} ms",
                missing_for.as_millis()
            ))
        } else {
            DecodeError::RegistryUnavailable(format!(
                "schema id {schema_id}: the registry has no such schema ({message}); asking again for up to {} ms in case a replica lags (schema_registry.missing_schema_wait_ms)",
                self.missing_schema_wait.as_millis()
            ))
        }
    }
}

/// What the registry said about one schema id.
enum Lookup {
    Found(String),
    /// 404 with error code 40403.
    NotFound(String),
    /// A definite answer that is not an Avro schema (PROTOBUF, JSON).
    NotAvro(String),
    /// Anything that says nothing about the schema.
    Unavailable(String),
}

/// `GET /schemas/ids/{id}` with the configured URL and credentials.
struct RegistryLookup {
    base_url: String,
    client: reqwest::Client,
    basic_auth: Option<(String, String)>,
}

impl RegistryLookup {
    fn new(config: &SchemaRegistryConfig) -> Result<Self> {
        let basic_auth = match &config.basic_auth {
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').ok_or_else(|| {
                    Error::config("schema_registry.basic_auth", "expected `user:password`")
                })?;
                Some((user.to_owned(), password.to_owned()))
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| Error::Registry(format!("{}: {error}", config.url)))?;
        Ok(Self {
            base_url: config.url.trim_end_matches('/').to_owned(),
            client,
            basic_auth,
        })
    }

    async fn schema_text(&self, schema_id: u32) -> Lookup {
        let url = format!("{}/schemas/ids/{schema_id}", self.base_url);
        let mut request = self
            .client
            .get(&url)
            .header("Accept", "application/vnd.schemaregistry.v1+json");
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Lookup::Unavailable(format!("GET {url}: {error}")),
        };
        let status = response.status();
        let body = match response.text().await {
            Ok(body) => body,
            Err(error) => {
                return Lookup::Unavailable(format!(
                    "GET {url}: {status}, body unreadable: {error}"
                ));
            }
        };
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        if status.is_success() {
            return registered_schema(&url, json.as_ref(), &body);
        }
        let error_code = json
            .as_ref()
            .and_then(|json| json.get("error_code"))
            .and_then(serde_json::Value::as_i64);
        let detail = format!("GET {url}: {status}: {}", excerpt(&body));
        match (status, error_code) {
            (StatusCode::NOT_FOUND, Some(SCHEMA_NOT_FOUND)) => Lookup::NotFound(detail),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                tracing::error!(
                    %status,
                    url,
                    "the schema registry refuses the consumer's credentials: fix schema_registry.basic_auth (or the registry's ACLs); records wait, none are dead-lettered"
                );
                Lookup::Unavailable(format!("{detail} (check schema_registry.basic_auth)"))
            }
            _ => Lookup::Unavailable(detail),
        }
    }
}

/// What a successful `GET /schemas/ids/{id}` answer holds.
fn registered_schema(url: &str, json: Option<&serde_json::Value>, body: &str) -> Lookup {
    let Some(json) = json else {
        return Lookup::Unavailable(format!(
            "GET {url}: the body is not JSON: {}",
            excerpt(body)
        ));
    };
    match json.get("schemaType").and_then(serde_json::Value::as_str) {
        None | Some("AVRO") => {}
        Some(other) => return Lookup::NotAvro(format!("the schema is {other}, not AVRO")),
    }
    match json.get("schema").and_then(serde_json::Value::as_str) {
        Some(text) => Lookup::Found(text.to_owned()),
        None => Lookup::Unavailable(format!(
            "GET {url}: the body has no `schema` text: {}",
            excerpt(body)
        )),
    }
}

/// The start of a response body, for a log line.
fn excerpt(body: &str) -> String {
    const LIMIT: usize = 200;
    match body.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
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

/// A writer schema, with the plan that reads its datums directly when it
/// has one (see `binary`).
pub(crate) struct KnownSchema {
    schema: Schema,
    plan: Option<ReadPlan>,
}

impl KnownSchema {
    pub(crate) fn new(schema: Schema) -> Self {
        Self {
            plan: ReadPlan::new(&schema),
            schema,
        }
    }
}

fn decode_datum(
    known: &KnownSchema,
    schema_id: u32,
    mut datum: &[u8],
) -> Result<Record, DecodeError> {
    let undecodable =
        |error: String| DecodeError::Undecodable(format!("schema id {schema_id}: {error}"));
    if let Some(plan) = &known.plan {
        let record = plan.read(&mut datum).map_err(undecodable)?;
        if !datum.is_empty() {
            return Err(undecodable(format!(
                "{} byte(s) left after the datum",
                datum.len()
            )));
        }
        return Ok(record);
    }
    let value = GenericDatumReader::builder(&known.schema)
        .build()
        .and_then(|reader| reader.read_value(&mut datum))
        .map_err(|error| undecodable(error.to_string()))?;
    if !datum.is_empty() {
        return Err(undecodable(format!(
            "{} byte(s) left after the datum",
            datum.len()
        )));
    }
    record_from_avro(value, &known.schema).map_err(undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ValueSchema, WireEncoder};
    use crate::record::FieldValue;

    fn decoder_knowing(schema: &ValueSchema, id: u32) -> WireDecoder {
        let config = SchemaRegistryConfig {
            url: "http://127.0.0.1:9".into(),
            ..SchemaRegistryConfig::default()
        };
        let decoder = WireDecoder::new(&config).unwrap();
        decoder
            .schemas
            .lock()
            .unwrap()
            .insert(id, Arc::new(KnownSchema::new(schema.schema.clone())));
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
