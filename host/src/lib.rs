//! A change-data-capture pipeline with sandboxed WebAssembly transforms.
//!
//! The modules follow the data path:
//!
//! ```text
//! MySQL ─▶ source ─▶ codec (Avro, registry wire format) ─▶ kafka ─▶ codec ─▶ plugin chain ─▶ sink (JSON logs)
//! ```
//!
//! `registry` is the Confluent-compatible Schema Registry the pipeline ships
//! for machines that have none, `updater` writes the demo and benchmark
//! changes, and `run` wires the pieces into the `pipeline` subcommands.

pub mod bench;
pub mod codec;
pub mod commands;
pub mod config;
pub mod consumer;
pub mod error;
pub mod kafka;
pub mod metrics;
pub mod plugin;
pub mod producer;
pub mod progress;
pub mod record;
pub mod registry;
pub mod retry;
pub mod sink;
pub mod source;
pub mod timestamp;
pub mod updater;

pub use error::{Error, Result};
