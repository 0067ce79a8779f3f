//! The WebAssembly runtime: one wasmtime engine per node, modules compiled
//! once per distinct code and kept as `InstancePre`, one store per instance.
//! With a module cache folder, compiled code also survives restarts: the
//! engine looks each module up there (by a hash of its code and of the
//! engine's settings) before compiling it.
//!
//! Each instance is a task that takes one event at a time from its mailbox
//! and calls the matching guest export. A trap ends the instance (and is
//! logged with its cause); it never takes the node down.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use edgeless_api::event::{Event, EventKind};
use edgeless_dataplane::{CallOutcome, DataplaneHandle};
use tokio::sync::oneshot;
use wasmtime::{Engine, InstancePre, Linker, Module, Store, TypedFunc};

use super::guest_limits::GuestLimits;
use super::host::{GuestMemory, HostState, arm_budget, copy_into_guest, define_imports};
use super::inbox::Inbox;
use super::{InstanceContext, InstanceParts, RunningInstance, StartError};
use crate::metrics::InstanceMeter;

/// The exports every function module must have, with their meaning.
const REQUIRED_EXPORTS: &[&str] = &[
    "memory",
    "edgeless_alloc",
    "edgeless_free",
    "handle_init",
    "handle_cast",
    "handle_call",
    "handle_stop",
];

/// The most code keys remembered (beyond it the table starts afresh; the
/// orchestrator then sends the code again).
const MAX_KEYED_MODULES: usize = 4096;

/// How often the engine's epoch advances: the granularity of CPU budgets.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// An instance's limits.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// CPU time per event, in ms.
    pub cpu_ms: u64,
}

/// Runs WASM functions.
pub struct WasmRuntime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    /// Compiled and linked modules by hash of their code.
    modules: Mutex<HashMap<u64, InstancePre<HostState>>>,
    /// The same modules by the key an orchestrator gave their code (its
    /// SHA-256), so that a start may name the code instead of carrying it.
    by_key: Mutex<HashMap<String, InstancePre<HostState>>>,
    /// The on-disk module cache, if any.
    disk_cache: Option<wasmtime::Cache>,
    /// Held while a module compiles: starts of code that is being compiled
    /// wait for it instead of compiling it again.
    compiling: tokio::sync::Mutex<()>,
}

/// The guest's entry points, looked up once per instance.
struct Entry {
    init: TypedFunc<(u32, i32, u32, i32), ()>,
    cast: TypedFunc<(u32, u32, u32), ()>,
    call: TypedFunc<(u32, u32, u32, u32), i32>,
    stop: TypedFunc<(), ()>,
    /// The faster way in, when the module has one.
    inbox: Option<Inbox>,
}

impl WasmRuntime {
    /// A runtime with its own engine, keeping compiled modules in
    /// `module_cache_dir` too (created if missing) when one is given. A thread
    /// advances the engine's epoch every [`EPOCH_TICK`]; instances are
    /// interrupted when they run past their budget of ticks.
    pub fn new(module_cache_dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // 32-bit ARM has no Cranelift backend: modules are compiled to
        // Pulley bytecode, which wasmtime's interpreter runs.
        #[cfg(target_arch = "arm")]
        config
            .target("pulley32")
            .map_err(|e| anyhow::anyhow!("cannot select the Pulley interpreter: {e:#}"))?;
        let mut disk_cache = None;
        if let Some(dir) = module_cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!("cannot create the WASM module cache {}: {e}", dir.display())
            })?;
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            let cache = wasmtime::Cache::new(cache).map_err(|e| {
                anyhow::anyhow!("cannot use the WASM module cache {}: {e:#}", dir.display())
            })?;
            config.cache(Some(cache.clone()));
            disk_cache = Some(cache);
        }
        let engine = Engine::new(&config)
            .map_err(|e| anyhow::anyhow!("cannot create the WASM engine: {e:#}"))?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start the epoch thread: {e}"))?;
        let mut linker = Linker::new(&engine);
        define_imports(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            modules: Mutex::default(),
            by_key: Mutex::default(),
            compiling: tokio::sync::Mutex::new(()),
            disk_cache,
        })
    }

    /// How many modules were taken from the on-disk cache instead of being
    /// compiled.
    pub fn modules_from_disk(&self) -> usize {
        self.disk_cache.as_ref().map_or(0, |c| c.cache_hits())
    }

    /// [`Self::prepare`], also known (and looked up) by `code_key` when
    /// one is given.
    async fn prepare_keyed(
        &self,
        code: &[u8],
        code_key: &str,
    ) -> Result<InstancePre<HostState>, StartError> {
        if code_key.is_empty() {
            return self.prepare(code).await;
        }
        let by_key = || self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pre) = by_key().get(code_key) {
            return Ok(pre.clone());
        }
        if code.is_empty() {
            return Err(StartError::UnknownCode(code_key.to_string()));
        }
        let pre = self.prepare(code).await?;
        let mut known = by_key();
        // Keys come from the orchestrator; their number is bounded like the
        // modules themselves.
        if known.len() >= MAX_KEYED_MODULES {
            known.clear();
        }
        known.insert(code_key.to_string(), pre.clone());
        Ok(pre)
    }

    /// Compiles `code` (or takes it from the cache) and checks that it fits
    /// the function ABI.
    async fn prepare(&self, code: &[u8]) -> Result<InstancePre<HostState>, StartError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        code.hash(&mut hasher);
        let key = hasher.finish();
        if let Some(pre) = self.cached(key) {
            return Ok(pre);
        }
        let _turn = self.compiling.lock().await;
        if let Some(pre) = self.cached(key) {
            return Ok(pre);
        }
        let engine = self.engine.clone();
        let linker = self.linker.clone();
        let code = code.to_vec();
        let (size, from_disk_before) = (code.len(), self.modules_from_disk());
        let started = std::time::Instant::now();
        let pre = tokio::task::spawn_blocking(move || -> Result<_, StartError> {
            let module = Module::new(&engine, &code).map_err(|e| StartError::BadCode(format!("{e:#}")))?;
            for name in REQUIRED_EXPORTS {
                if module.get_export(name).is_none() {
                    return Err(StartError::BadCode(format!(
                        "the module does not export `{name}` (was it built with edgeless_function::export!?)"
                    )));
                }
            }
            linker
                .instantiate_pre(&module)
                .map_err(|e| StartError::BadCode(format!("{e:#}")))
        })
        .await
        .map_err(|e| StartError::BadCode(format!("compilation failed: {e}")))??;
        let how = if self.modules_from_disk() > from_disk_before {
            "loaded from the on-disk module cache"
        } else {
            "compiled"
        };
        tracing::info!(bytes = size, elapsed = ?started.elapsed(), "WASM module {how}");
        self.modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, pre.clone());
        Ok(pre)
    }

    fn cached(&self, key: u64) -> Option<InstancePre<HostState>> {
        self.modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    /// Creates the instance and starts its task, which runs `handle_init`
    /// and then serves its mailbox.
    /// `code_key` (may be empty) names the code as the orchestrator knows
    /// it; with `code` empty, the module compiled under that key runs.
    pub async fn start(
        &self,
        code: &[u8],
        code_key: &str,
        context: InstanceContext,
    ) -> Result<RunningInstance, StartError> {
        let pre = self.prepare_keyed(code, code_key).await?;
        let InstanceParts {
            host,
            init_payload,
            saved_state,
            dataplane,
            meter,
            limits,
        } = context.into_parts();
        let host = HostState {
            host,
            exports: None,
            reply_slot: None,
            limits: GuestLimits::new(limits.memory_bytes),
            cpu_ticks: (limits.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1),
            ticks_left: 0,
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|host| &mut host.limits);
        store.epoch_deadline_callback(super::host::on_epoch_tick);
        arm_budget(&mut store);
        let instantiate = |e: wasmtime::Error| {
            let mut reason = format!("{e:#}");
            // Each instance maps its own memory; thousands of them meet the
            // kernel's limit on memory maps per process.
            if reason.contains("Cannot allocate memory") {
                reason.push_str(
                    " (each WASM instance maps its memory: a node with thousands of instances needs `sysctl vm.max_map_count=262144` or more)",
                );
            }
            StartError::Instantiate(reason)
        };
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(instantiate)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| StartError::BadCode("`memory` is not a memory".into()))?;
        let bad_signature = |e: wasmtime::Error| {
            StartError::BadCode(format!("an export has the wrong type: {e:#}"))
        };
        store.data_mut().exports = Some(std::sync::Arc::new(GuestMemory {
            memory,
            alloc: instance
                .get_typed_func(&mut store, "edgeless_alloc")
                .map_err(bad_signature)?,
            free: instance
                .get_typed_func(&mut store, "edgeless_free")
                .map_err(bad_signature)?,
        }));
        let entry = Entry {
            init: instance
                .get_typed_func(&mut store, "handle_init")
                .map_err(bad_signature)?,
            cast: instance
                .get_typed_func(&mut store, "handle_cast")
                .map_err(bad_signature)?,
            call: instance
                .get_typed_func(&mut store, "handle_call")
                .map_err(bad_signature)?,
            stop: instance
                .get_typed_func(&mut store, "handle_stop")
                .map_err(bad_signature)?,
            inbox: Inbox::find(&instance, &mut store)?,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run_instance(
            store,
            entry,
            dataplane,
            stop_rx,
            (init_payload, saved_state),
            meter,
        ));
        Ok(RunningInstance {
            stop: stop_tx,
            task,
        })
    }
}

/// Why a guest call failed, in words an operator can act on: a panic the
/// guest reported by its message.
fn failure(error: &wasmtime::Error, cpu_ticks: u64, panic: Option<String>) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::UnreachableCodeReached) if panic.is_some() => {
            format!("panicked: {}", panic.unwrap_or_default())
        }
        Some(wasmtime::Trap::Interrupt) => format!(
            "exceeded its CPU budget of {} ms for one event",
            cpu_ticks * EPOCH_TICK.as_millis() as u64
        ),
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            "trapped: unreachable code (a panic, or memory exhausted)".to_string()
        }
        Some(trap) => format!("trapped: {trap}"),
        // An error raised by the node (a limit, a stop) under the guest's
        // backtrace: the node's words are what an operator needs.
        None => error.root_cause().to_string(),
    }
}

/// The life of one instance: init, then one event at a time until stopped,
/// unregistered or failed. Returns why it failed, if it did.
async fn run_instance(
    mut store: Store<HostState>,
    mut entry: Entry,
    mut dataplane: DataplaneHandle,
    mut stop: oneshot::Receiver<()>,
    (init_payload, saved_state): (Option<Bytes>, Option<Bytes>),
    meter: InstanceMeter,
) -> Option<String> {
    let id = store.data().host.id;
    let cpu_ticks = store.data().cpu_ticks;
    arm_budget(&mut store);
    if let Err(error) = init(&mut store, &entry, init_payload, saved_state).await {
        let reason = format!(
            "handle_init {}",
            failure(&error, cpu_ticks, store.data().host.panic_message())
        );
        tracing::error!(instance = %id, %reason, "function failed; instance stopped");
        return Some(reason);
    }
    tracing::debug!(instance = %id, "instance ready");
    let mut failed = None;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => {
                arm_budget(&mut store);
                if let Err(error) = entry.stop.call_async(&mut store, ()).await {
                    tracing::warn!(instance = %id, error = %failure(&error, cpu_ticks, store.data().host.panic_message()), "handle_stop failed");
                }
                break;
            }
            event = dataplane.receive_next() => {
                let Some(event) = event else { break };
                let started = std::time::Instant::now();
                arm_budget(&mut store);
                // A stop ends even a handler that is still running (it
                // yields at every epoch tick).
                let result = tokio::select! {
                    biased;
                    result = handle_event(&mut store, &mut entry, &dataplane, event) => result,
                    _ = &mut stop => {
                        tracing::info!(instance = %id, "stopped in the middle of an event");
                        break;
                    }
                };
                meter.handled(started.elapsed());
                if let Err(error) = result {
                    let reason = failure(&error, cpu_ticks, store.data().host.panic_message());
                    tracing::error!(instance = %id, %reason, "function failed; instance stopped");
                    failed = Some(reason);
                    break;
                }
            }
        }
    }
    store.data().host.cancel_timers();
    tracing::info!(instance = %id, "instance ended");
    failed
}

async fn init(
    store: &mut Store<HostState>,
    entry: &Entry,
    payload: Option<Bytes>,
    state: Option<Bytes>,
) -> wasmtime::Result<()> {
    async fn optional(
        store: &mut Store<HostState>,
        bytes: &Option<Bytes>,
    ) -> wasmtime::Result<(u32, i32)> {
        match bytes {
            None => Ok((0, -1)),
            Some(bytes) => Ok((copy_into_guest(store, bytes).await?, bytes.len() as i32)),
        }
    }
    let (payload_ptr, payload_len) = optional(store, &payload).await?;
    let (state_ptr, state_len) = optional(store, &state).await?;
    entry
        .init
        .call_async(store, (payload_ptr, payload_len, state_ptr, state_len))
        .await
}

async fn handle_event(
    store: &mut Store<HostState>,
    entry: &mut Entry,
    dataplane: &DataplaneHandle,
    event: Event,
) -> wasmtime::Result<()> {
    match event.kind {
        EventKind::Cast => match &mut entry.inbox {
            Some(inbox) => inbox.cast(store, &event.source, &event.payload).await,
            None => {
                let (src_ptr, msg_ptr, msg_len) = copy_event(store, &event).await?;
                entry
                    .cast
                    .call_async(&mut *store, (src_ptr, msg_ptr, msg_len))
                    .await
            }
        },
        EventKind::Call => {
            let out_ptr = reply_slot(store).await?;
            let (result, guest_keeps_reply) = match &mut entry.inbox {
                Some(inbox) => (
                    inbox
                        .call(store, &event.source, &event.payload, out_ptr)
                        .await,
                    true,
                ),
                None => {
                    let (src_ptr, msg_ptr, msg_len) = copy_event(store, &event).await?;
                    let result = entry
                        .call
                        .call_async(&mut *store, (src_ptr, msg_ptr, msg_len, out_ptr))
                        .await;
                    (result, false)
                }
            };
            let outcome = match &result {
                Ok(code) => take_call_result(store, *code, out_ptr, guest_keeps_reply).await?,
                Err(_) => CallOutcome::Err("the callee failed".to_string()),
            };
            if let Err(error) = dataplane.sender().reply(&event, outcome) {
                tracing::warn!(instance = %event.target, %error, "reply not delivered");
            }
            result.map(|_| ())
        }
        // Replies are routed to their waiting caller by the dataplane.
        _ => Ok(()),
    }
}

/// The original way in: the event's source and message copied into two
/// fresh guest buffers (which the guest frees). Returns their pointers and
/// the message's length.
async fn copy_event(
    store: &mut Store<HostState>,
    event: &Event,
) -> wasmtime::Result<(u32, u32, u32)> {
    let src_ptr = copy_into_guest(store, &event.source.to_bytes()).await?;
    let msg_ptr = copy_into_guest(store, &event.payload).await?;
    Ok((src_ptr, msg_ptr, event.payload.len() as u32))
}

/// The instance's reply slot (see [`HostState::reply_slot`]): one guest
/// allocation for all its calls instead of an allocation and a free each.
async fn reply_slot(store: &mut Store<HostState>) -> wasmtime::Result<u32> {
    if let Some(slot) = store.data().reply_slot {
        return Ok(slot);
    }
    let slot = copy_into_guest(store, &[0u8; 8]).await?;
    store.data_mut().reply_slot = Some(slot);
    Ok(slot)
}

/// Reads the guest's answer to a call and frees the reply buffer, unless
/// the guest keeps it (the inbox way).
async fn take_call_result(
    store: &mut Store<HostState>,
    code: i32,
    out_ptr: u32,
    guest_keeps_reply: bool,
) -> wasmtime::Result<CallOutcome> {
    match code {
        0 => Ok(CallOutcome::NoReply),
        1 => {
            let memory = store.data().exports.as_ref().map(|g| g.memory);
            let memory = memory.ok_or_else(|| wasmtime::format_err!("guest memory not ready"))?;
            let mut slot = [0u8; 8];
            memory
                .read(&*store, out_ptr as usize, &mut slot)
                .map_err(|_| wasmtime::format_err!("bad reply slot"))?;
            let ptr = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
            let len = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
            let start = ptr as usize;
            let reply = memory
                .data(&*store)
                .get(start..start + len as usize)
                .map(Bytes::copy_from_slice)
                .ok_or_else(|| {
                    wasmtime::format_err!("the reply {ptr}+{len} is outside guest memory")
                })?;
            if !guest_keeps_reply {
                free(store, ptr, len).await?;
            }
            Ok(CallOutcome::Reply(reply))
        }
        _ => Ok(CallOutcome::Err("the callee returned an error".to_string())),
    }
}

async fn free(store: &mut Store<HostState>, ptr: u32, len: u32) -> wasmtime::Result<()> {
    if ptr == 0 || len == 0 {
        return Ok(());
    }
    let guest = store.data().exports.clone();
    match guest {
        Some(guest) => guest.free.call_async(store, (ptr, len)).await,
        None => Ok(()),
    }
}
