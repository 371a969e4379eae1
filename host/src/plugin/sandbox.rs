//! The sandbox a plugin instance runs in: WASI with no capabilities, and
//! resource limits.
//!
//! Components built for `wasm32-wasip2` import WASI interfaces even when they
//! never use them (the Rust standard library links them), so WASI is linked
//! but granted nothing: no preopened directories, no environment, no
//! arguments, no sockets or name lookups, empty stdin, discarded stdout, a
//! stderr whose tail the host keeps to explain a failure (`guest_stderr`),
//! and (unless the plugin's config allows it) clocks frozen at a
//! constant and random numbers replayed from a constant seed at every call,
//! so a plugin cannot make its output depend on time or chance.
//!
//! The rule that keeps a plugin inside its time budget: **no host function a
//! plugin can call ever waits.** Time limits are enforced by epoch checks,
//! which only run in wasm code; a plugin blocked in the host would escape
//! them. WASI's only ways to wait are clock subscriptions (`sleep` is one),
//! so `subscribe-duration` and `subscribe-instant` trap instead of returning
//! a pollable; every other pollable a plugin can get (stdin, stdout, stderr)
//! is always ready, so `poll` and `block` return at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::cpu_budget::CpuBudget;
use super::guest_stderr::StderrTail;
use crate::config::PluginConfig;

/// Most tables and instances a plugin may create: enough for any component
/// the Rust toolchain produces, small enough to stop a plugin from hoarding.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Most bytes one `wasi:random` call may ask for (the host allocates them).
const MAX_RANDOM_BYTES: u64 = 64 * 1024;

/// The WASI clock interface whose waiting functions are replaced, at the
/// version `wasmtime_wasi` defines (a plugin's older 0.2.x import resolves
/// to it). `sandbox::tests` fails if the version moves.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Why a plugin's wait was refused; the call's error names it.
pub const BLOCKING_REFUSED: &str = "tried to wait (sleep, or a wasi:clocks subscription): plugins may not block, a call may only compute";

/// The store's data: WASI state, the limiter and the running call's budget.
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: Limits,
    pub cpu: CpuBudget,
    /// The end of what the running call wrote to stderr.
    pub stderr: StderrTail,
    /// The state of the replayed random numbers (unless `allow_random`).
    random: Option<Arc<AtomicU64>>,
}

impl Host {
    /// Restarts the replayed random numbers: every call sees the same ones,
    /// so a retried batch comes out the same.
    pub fn replay_random(&mut self) {
        if let Some(state) = &self.random {
            state.store(RANDOM_SEED, Ordering::Relaxed);
        }
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory and table limits that remember when they refused a growth, so a
/// trap can be reported as "exceeded its memory limit" rather than a bare
/// `unreachable`.
pub struct Limits {
    memory_bytes: usize,
    /// Set when a growth was refused; cleared before every call.
    pub memory_refused: bool,
    /// The largest memory size refused, in bytes (for the message).
    pub refused_bytes: usize,
}

impl Limits {
    pub fn memory_limit_mib(&self) -> usize {
        self.memory_bytes / (1024 * 1024)
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        self.memory_refused |= !allowed;
        if !allowed {
            self.refused_bytes = self.refused_bytes.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// A clock stuck at one instant (the Unix epoch plus one second).
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(1)
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// The seed random numbers are replayed from.
const RANDOM_SEED: u64 = 0x005e_ed0f_916e_d00d;

/// SplitMix64 over a shared state, so the host can rewind it between calls.
struct ReplayedRandom(Arc<AtomicU64>);

impl rand_core::TryRng for ReplayedRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.try_next_u64().map(|value| (value >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// A fresh store for one instance of a plugin, with `config`'s limits.
pub fn store(engine: &Engine, config: &PluginConfig) -> Store<Host> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    if !config.allow_clock {
        wasi.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
    }
    wasi.max_random_size(MAX_RANDOM_BYTES);
    let stderr = StderrTail::default();
    wasi.stderr(stderr.clone());
    let random = (!config.allow_random).then(|| {
        let state = Arc::new(AtomicU64::new(RANDOM_SEED));
        wasi.secure_random(ReplayedRandom(Arc::clone(&state)))
            .insecure_random(ReplayedRandom(Arc::clone(&state)))
            .insecure_random_seed(u128::from(RANDOM_SEED));
        state
    });
    let memory_bytes =
        usize::try_from(config.memory_limit_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let host = Host {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        limits: Limits {
            memory_bytes,
            memory_refused: false,
            refused_bytes: 0,
        },
        cpu: CpuBudget::default(),
        stderr,
        random,
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.limits);
    store.epoch_deadline_callback(|mut store| Ok(store.data_mut().cpu.on_deadline()));
    store
}

/// A linker with the WASI interfaces (which grant nothing, see [`store`]),
/// the clock subscriptions replaced by functions that trap (see the module
/// comment).
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    for name in ["subscribe-duration", "subscribe-instant"] {
        clock.func_new(name, |_, _, _, _| {
            Err(wasmtime::format_err!("{BLOCKING_REFUSED}"))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(linker)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_replaced_clock_interface_is_the_one_wasi_defines() {
        let engine = wasmtime::Engine::default();
        let mut linker = wasmtime::component::Linker::<super::Host>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        // Defining it again without shadowing fails only if it exists.
        let mut clock = linker.instance(super::MONOTONIC_CLOCK).unwrap();
        assert!(
            clock
                .func_new("subscribe-duration", |_, _, _, _| Ok(()))
                .is_err(),
            "{} is not what wasmtime_wasi defines: update MONOTONIC_CLOCK",
            super::MONOTONIC_CLOCK
        );
    }
}
