//! A change-data-capture pipeline with sandboxed WebAssembly transforms.
//!
//! The data path, and the module that holds each step:
//!
//! ```text
//! MySQL ─▶ source ─▶ producer ─▶ codec ─▶ kafka topic ─▶ consumer ─▶ codec ─▶ plugin chain ─▶ sink
//!                                  ▲                                   ▲
//!                                  └──────────── registry ─────────────┘
//! ```
//!
//! In data-path order:
//!
//! - [`updater`]: writes the demo, test and benchmark changes into MySQL.
//! - [`source`]: each configured table as the catalog describes it (types, key, derived
//!   schema), tailing it by `(stamp, key)`, and the saved position.
//!   `source::binlog`, the other mode: the row-based binary log (every change, deletes too),
//!   one stream and one position for every table, resumed by file and offset or by MariaDB
//!   GTID position, only on the binary-log history it was read from.
//! - [`timestamp`]: `last_updated` stamps as UTC microseconds, to and from MySQL.
//! - [`record`]: a row as named, typed fields, what every stage passes on.
//! - [`producer`]: tails each table and produces each change to its table's topic; saves each
//!   table's position after the acks (`producer::tables`: one tail per table).
//! - [`codec`]: Avro in the Confluent wire format, schemas through a registry.
//! - [`registry`]: the Confluent-compatible Schema Registry server (`pipeline registry`).
//! - [`kafka`]: librdkafka client settings and topic creation, for every client.
//! - [`consumer`]: one group member: every table's topic → decode → that table's plugin chain
//!   → sink, then commit (`consumer::tables`).
//! - [`plugin`]: the wasmtime host: sandbox, chain, hot swap, `plugin check`/`new`.
//! - [`sink`]: the members' JSON-lines logs and the dead letters.
//!
//! Around the path:
//!
//! - [`config`]: `pipeline.toml`, environment and `--set`, typed and checked at start
//!   (`config::tables`: `[[source.tables]]`, one view of the configuration per table).
//! - [`error`]: the one error type; each variant says whether retrying can help.
//! - [`retry`]: capped exponential backoff while a service is away.
//! - [`fs`]: files replaced atomically and durably (position, progress, registry).
//! - [`histogram`]: the lock-free latency histogram.
//! - [`latency_trace`]: the opt-in per-record timing trace behind the bench's latency legs.
//! - [`progress`]: each process's progress snapshot, for `up` and `status`.
//! - [`metrics`]: `/metrics` and `/health` per process.
//! - [`resources`]: thread and allocator sizes fixed, not taken from the core count.
//! - [`process`]: starting, supervising and stopping processes; isolated deployments.
//! - [`commands`]: one file per `pipeline` subcommand; `main.rs` only parses and calls.

pub mod codec;
pub mod commands;
pub mod config;
pub mod consumer;
pub mod error;
pub mod fs;
pub mod histogram;
pub mod kafka;
pub mod latency_trace;
pub mod metrics;
pub mod plugin;
pub mod process;
pub mod producer;
pub mod progress;
pub mod record;
pub mod registry;
pub mod resources;
pub mod retry;
pub mod sink;
pub mod source;
pub mod timestamp;
pub mod updater;

pub use error::{Disposition, Error, Result};
