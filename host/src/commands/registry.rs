//! `pipeline registry`: the Confluent-compatible Schema Registry (the
//! server itself is `crate::registry`).

use crate::config::Config;
use crate::error::Result;

/// Serves the registry until SIGINT or SIGTERM, then finishes the requests in
/// flight (each write is durable before it is answered) and returns.
pub async fn run(config: &Config) -> Result<()> {
    crate::registry::serve_until_signal(&config.registry, super::shutdown_signal()).await
}
