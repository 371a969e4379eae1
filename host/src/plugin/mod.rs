//! The plugin chain: sandboxed WebAssembly transforms between decoding and the log.
//!
//! A plugin is a component exporting the `transform-batch` world of
//! `wit/transform.wit` (positional values, the fields it reads only) or the
//! first version, the `transform` world (named fields, every field); `loaded`
//! finds out which. The pieces, one idea each:
//!
//! - `engine`: the shared wasmtime engine and the epoch ticker behind time limits;
//! - `cpu_budget`: time limits in the calling thread's CPU time, and the wall-clock watchdog;
//! - `sandbox`: the capability-free WASI context and the memory/table limits;
//! - `guest_stderr`: the tail of a call's stderr, and the exception it names;
//! - `loaded`: one compiled, instantiated plugin version;
//! - `failure`: why a call failed, naming the limit's setting or the plugin's own error;
//! - `limits`: what one call may cost (CPU budget, output bytes), from its input;
//! - `bisect`: batch calls that isolate the one record that traps;
//! - `batch`: a `transform-batch` plugin's step of the chain (columns, values);
//! - `validate` and `schema`: manifests and kept rows checked against the schema;
//! - `slot`: one plugin of a chain and its step over a batch, in either world;
//! - `chain`: [`PluginChain`], what the consumer calls;
//! - `watch`: the background thread that compiles changed files for hot swap;
//! - `native`: the seed transforms in plain Rust, the benchmark's reference;
//! - `check` and `scaffold`: `pipeline plugin check` and `pipeline plugin new`
//!   (a Rust, Python or JavaScript plugin from `template/`), and
//!   `check_files`, the records and expected outcomes a plugin's test checks.

mod batch;
mod bisect;
mod cells;
mod chain;
mod check;
mod check_files;
mod convert;
mod cpu_budget;
mod engine;
mod failure;
mod guest_stderr;
mod limits;
mod loaded;
pub mod native;
mod sandbox;
mod scaffold;
mod schema;
mod slot;
mod validate;
mod watch;

pub use chain::{ChainOutcome, DeadLetter, PluginChain, PluginStats, SwapEvent};
pub use check::{CheckReport, check_plugin, check_plugin_with, check_records, sample_records};
pub use check_files::{Expected, read_expected, read_records, write_expected, write_records};
pub use scaffold::{Language, new_plugin, new_plugin_in};
pub use schema::{FieldSpec, FieldType, SchemaFields};

/// Host bindings generated from `wit/transform.wit`.
mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "transform" });

    // `self::`: in doctests the crate itself, also named `pipeline`, is in scope.
    pub use self::pipeline::transform::types::{Field, FieldType, Value};

    /// The `transform-batch` world, sharing the `types` interface's Rust types.
    pub mod batch {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "transform-batch",
            with: { "pipeline:transform/types": super::pipeline::transform::types },
        });

        pub use self::pipeline::transform::batch_types::{Cell, Column, RowOutcome, Span};
    }
}
