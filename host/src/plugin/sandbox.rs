//! The sandbox a plugin instance runs in: WASI with no capabilities, and
//! resource limits.
//!
//! Components built for `wasm32-wasip2` import WASI interfaces even when they
//! never use them (the Rust standard library links them), so WASI is linked
//! but granted nothing: no preopened directories, no environment, no
//! arguments, no sockets or name lookups, empty stdin, discarded stdout and
//! stderr, and (unless the plugin's config allows it) clocks frozen at a
//! constant so a plugin cannot make its output depend on time.

use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::cpu_budget::CpuBudget;
use crate::config::PluginConfig;

/// Most tables and instances a plugin may create: enough for any component
/// the Rust toolchain produces, small enough to stop a plugin from hoarding.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The store's data: WASI state, the limiter and the running call's budget.
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: Limits,
    pub cpu: CpuBudget,
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
    let memory_bytes =
        usize::try_from(config.memory_limit_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let host = Host {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        limits: Limits {
            memory_bytes,
            memory_refused: false,
        },
        cpu: CpuBudget::default(),
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.limits);
    store.epoch_deadline_callback(|store| Ok(store.data().cpu.on_deadline()));
    store
}

/// A linker with the WASI interfaces (which grant nothing, see [`store`]).
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Ok(linker)
}
