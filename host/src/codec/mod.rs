//! Avro values in the Confluent wire format (magic byte 0, a big-endian
//! 4-byte schema id, the Avro datum), through a Confluent-compatible Schema
//! Registry.
//!
//! The registry client is `schema_registry_converter`: it registers the value
//! schema and caches schemas by id, so any Confluent-compatible registry works.

mod avro;
mod binary;
mod decimal;
mod decoder;
mod encoder;
mod schema;

pub use avro::{record_from_avro, record_to_avro};
pub use decoder::{DecodeError, WireDecoder};
pub use encoder::WireEncoder;
pub use schema::{CatalogType, ValueSchema, registry_settings};
