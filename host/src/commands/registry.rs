//! `pipeline registry`: the Confluent-compatible Schema Registry (the
//! server itself is `crate::registry`).

use crate::config::Config;
use crate::error::Result;

/// Serves the registry until it is stopped.
pub async fn run(config: &Config) -> Result<()> {
    crate::registry::serve(&config.registry).await
}
