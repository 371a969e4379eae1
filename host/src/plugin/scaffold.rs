//! `pipeline plugin new NAME`: a new plugin crate under `plugins/`, from the
//! template in `template/`, that builds as is (it passes records through).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const CARGO_TOML: &str = include_str!("template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("template/lib.rs.tmpl");

/// Writes `plugins_dir/NAME/{Cargo.toml, src/lib.rs}` and returns the crate's
/// directory. `NAME` must be lower-case kebab-case (it becomes the crate and
/// file name); an existing directory is never overwritten.
pub fn new_plugin(plugins_dir: &Path, name: &str) -> Result<PathBuf> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid || name == "wasm" {
        return Err(Error::Plugin {
            plugin: name.to_owned(),
            message:
                "a plugin name is lower-case letters, digits and dashes, starting with a letter"
                    .into(),
        });
    }
    let dir = plugins_dir.join(name);
    if dir.exists() {
        return Err(Error::Plugin {
            plugin: name.to_owned(),
            message: format!("{} already exists", dir.display()),
        });
    }
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{file}}", &name.replace('-', "_"))
    };
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(|error| Error::io(&src, error))?;
    for (path, text) in [
        (dir.join("Cargo.toml"), CARGO_TOML),
        (src.join("lib.rs"), LIB_RS),
    ] {
        std::fs::write(&path, fill(text)).map_err(|error| Error::io(&path, error))?;
    }
    Ok(dir)
}
