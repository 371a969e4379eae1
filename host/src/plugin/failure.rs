//! Why a plugin call failed, in words that point at the fix.
//!
//! The rule: **a failure names the limit that was hit with the setting that
//! configures it and its value (`time_limit_ms = 10`), or else says what the
//! plugin itself reported** (a Python exception, a JavaScript error or a
//! Rust panic, from the end of its stderr; see `guest_stderr`). A bare
//! `unreachable` trap is said only when the plugin wrote nothing.

use wasmtime::{Store, Trap};

use super::cpu_budget::WALL_MARGIN;
use super::guest_stderr;
use super::limits::OUTPUT_ALLOWANCE;
use super::sandbox::{BLOCKING_REFUSED, Host};
use crate::config::PluginConfig;

/// The text wasmtime's error carries when the hostcall fuel runs out.
pub const FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Why a call failed as a whole.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub reason: String,
    /// The time limit was hit (the whole budget was spent).
    pub timed_out: bool,
}

impl From<String> for CallFailure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            timed_out: false,
        }
    }
}

/// What one call was allowed, for the messages.
pub struct Allowed<'a> {
    pub config: &'a PluginConfig,
    /// Its CPU budget.
    pub budget_ms: u64,
    /// The records it was given; `None` for instantiation and `manifest()`,
    /// whose budgets are fixed rather than configured.
    pub records: Option<usize>,
    pub input_bytes: usize,
    /// The most bytes it could return.
    pub output_cap: usize,
}

impl Allowed<'_> {
    /// The call used its whole CPU budget.
    pub fn time_limit(&self) -> String {
        match self.records {
            Some(records) => format!(
                "exceeded its time limit (time_limit_ms = {}): {} ms of CPU time for {records} record{}, the host's copying of its output included",
                self.config.time_limit_ms,
                self.budget_ms,
                plural(records)
            ),
            None => format!(
                "exceeded its time limit ({} ms of CPU time to start and describe itself)",
                self.budget_ms
            ),
        }
    }

    /// The wall-clock watchdog stopped the call.
    pub fn wall_limit(&self) -> String {
        let margin = WALL_MARGIN.as_millis() as u64;
        let configured = match self.records {
            Some(_) => format!("time_limit_ms = {}: ", self.config.time_limit_ms),
            None => String::new(),
        };
        format!(
            "exceeded its wall-clock limit of {} ms ({configured}its {} ms of CPU time plus {margin} ms) without using its CPU budget: it stalled, or the machine gave it no CPU",
            self.budget_ms + margin,
            self.budget_ms,
        )
    }

    /// The call returned more than it may.
    pub fn output_cap(&self) -> String {
        let records = self.records.unwrap_or(0);
        format!(
            "returned more than {} bytes for {records} record{} of {} bytes (output_ratio = {}: a call may return {} × its input + {OUTPUT_ALLOWANCE} bytes)",
            self.output_cap,
            plural(records),
            self.input_bytes,
            self.config.output_ratio,
            self.config.output_ratio,
        )
    }
}

/// Why a call that returned `error` failed: the limit it hit, or what the
/// plugin said on stderr, or the trap itself.
pub fn describe(store: &Store<Host>, error: &wasmtime::Error, allowed: &Allowed) -> CallFailure {
    let host = store.data();
    let text = format!("{error:#}");
    let interrupted = error.downcast_ref::<Trap>() == Some(&Trap::Interrupt);
    let reason = if interrupted && host.cpu.wall_expired {
        allowed.wall_limit()
    } else if interrupted {
        allowed.time_limit()
    } else if text.contains(FUEL_EXHAUSTED) {
        allowed.output_cap()
    } else if host.limits.memory_refused {
        format!(
            "exceeded its memory limit (memory_limit_mib = {}): it asked for {} MiB",
            host.limits.memory_limit_mib(),
            host.limits.refused_bytes.div_ceil(1024 * 1024)
        )
    } else if text.contains(BLOCKING_REFUSED) {
        BLOCKING_REFUSED.to_owned()
    } else {
        let stderr = host.stderr.text();
        match (
            guest_stderr::explain(&stderr),
            guest_stderr::last_lines(&stderr),
        ) {
            (Some(explanation), _) => format!("trapped: {explanation}"),
            (None, Some(last)) => {
                format!("trapped: {} (its stderr ended: {last})", error.root_cause())
            }
            (None, None) => format!("trapped: {}", error.root_cause()),
        }
    };
    CallFailure {
        reason,
        timed_out: interrupted,
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
