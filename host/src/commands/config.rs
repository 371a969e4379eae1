//! `pipeline config`: the effective configuration, after the file, the
//! environment and `--set`, as TOML.

use crate::config::Config;
use crate::error::{Error, Result};

/// The configuration as `pipeline config` prints it.
pub fn render(config: &Config) -> Result<String> {
    toml::to_string_pretty(config)
        .map_err(|error| Error::config("the effective configuration", error.to_string()))
}
