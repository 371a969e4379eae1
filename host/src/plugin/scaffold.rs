//! `pipeline plugin new NAME [--lang rust|python|js]`: a new plugin from the
//! templates in `template/`, that builds as is (it passes records through),
//! with its test, `test.sh` (built on `pipeline plugin check --records
//! --expect`; the command writes the records and expected outcomes beside it).
//! Rust plugins are crates under `plugins/NAME`; Python and JavaScript ones
//! are folders under `plugins/python/NAME` and `plugins/js/NAME`, which
//! `scripts/build-plugins.sh` builds to `plugins/wasm/NAME_py.wasm` and
//! `NAME_js.wasm`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const CARGO_TOML: &str = include_str!("template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("template/lib.rs.tmpl");
const APP_PY: &str = include_str!("template/app.py.tmpl");
const INDEX_JS: &str = include_str!("template/index.js.tmpl");
const TEST_SH: &str = include_str!("template/test.sh.tmpl");

/// The memory limit a Python or JavaScript plugin is documented to need.
const INTERPRETED_MEMORY_MIB: u64 = 32;

/// The language a new plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Language {
    /// A Rust crate (wit-bindgen), built with cargo.
    #[default]
    Rust,
    /// A Python module (componentize-py).
    Python,
    /// A JavaScript ES module (componentize-js).
    Js,
}

impl Language {
    /// The file name `scripts/build-plugins.sh` gives plugin `name`'s component.
    pub fn wasm_file(self, name: &str) -> String {
        let file = name.replace('-', "_");
        match self {
            Language::Rust => format!("{file}.wasm"),
            Language::Python => format!("{file}_py.wasm"),
            Language::Js => format!("{file}_js.wasm"),
        }
    }

    /// The memory limit its test checks it with.
    pub fn memory_limit_mib(self) -> u64 {
        match self {
            Language::Rust => crate::config::PluginConfig::at("").memory_limit_mib,
            Language::Python | Language::Js => INTERPRETED_MEMORY_MIB,
        }
    }

    /// The plugin's folder under the plugins folder, and what
    /// `scripts/build-plugins.sh` is given to build it.
    pub fn folder(self, name: &str) -> String {
        match self {
            Language::Rust => name.to_owned(),
            Language::Python => format!("python/{name}"),
            Language::Js => format!("js/{name}"),
        }
    }
}

/// Writes a Rust plugin crate `plugins_dir/NAME/{Cargo.toml, src/lib.rs}` and
/// returns its directory (see [`new_plugin_in`]).
pub fn new_plugin(plugins_dir: &Path, name: &str) -> Result<PathBuf> {
    new_plugin_in(plugins_dir, name, Language::Rust)
}

/// Writes a new plugin in `language` under `plugins_dir` and returns its
/// directory. `NAME` must be lower-case kebab-case (it becomes the crate,
/// folder and file name); an existing directory is never overwritten.
pub fn new_plugin_in(plugins_dir: &Path, name: &str, language: Language) -> Result<PathBuf> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid || ["wasm", "python", "js"].contains(&name) {
        return Err(Error::Plugin {
            plugin: name.to_owned(),
            message:
                "a plugin name is lower-case letters, digits and dashes, starting with a letter (not `wasm`, `python` or `js`)"
                    .into(),
        });
    }
    let dir = plugins_dir.join(language.folder(name));
    if dir.exists() {
        return Err(Error::Plugin {
            plugin: name.to_owned(),
            message: format!("{} already exists", dir.display()),
        });
    }
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{file}}", &name.replace('-', "_"))
            .replace("{{wasm}}", &language.wasm_file(name))
            .replace("{{memory}}", &language.memory_limit_mib().to_string())
    };
    let mut files = match language {
        Language::Rust => vec![
            (dir.join("Cargo.toml"), CARGO_TOML),
            (dir.join("src/lib.rs"), LIB_RS),
        ],
        Language::Python => vec![(dir.join("app.py"), APP_PY)],
        Language::Js => vec![(dir.join("index.js"), INDEX_JS)],
    };
    files.push((dir.join("test.sh"), TEST_SH));
    for (path, text) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| Error::io(parent, error))?;
        }
        std::fs::write(&path, fill(text)).map_err(|error| Error::io(&path, error))?;
    }
    let test = dir.join("test.sh");
    std::fs::set_permissions(&test, std::fs::Permissions::from_mode(0o755))
        .map_err(|error| Error::io(&test, error))?;
    Ok(dir)
}
