//! The host side of the function ABI: the imports of module `edgeless` that
//! a WASM function calls (cast, call, delayed_cast, sync, log, slf), and the
//! guest memory access they need. The guest side is `edgeless_function::abi`.
//!
//! A bad pointer from the guest is a trap of that instance, never a panic of
//! the node. A send that fails returns a non-zero code to the guest and is
//! logged with the reason.

use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::CallOutcome;
use wasmtime::{Caller, Linker, Memory, TypedFunc, format_err};

use super::instance_host::InstanceHost;

/// Return codes of `call` and `call_raw`.
const CALL_NO_REPLY: i32 = 0;
const CALL_REPLY: i32 = 1;
const CALL_ERR: i32 = 2;

/// The state of one WASM instance, as its host functions see it.
pub struct HostState {
    pub host: InstanceHost,
    /// Set right after instantiation.
    /// Shared, so that a host call takes it without copying its typed
    /// functions (each copy clones their signatures).
    pub exports: Option<std::sync::Arc<GuestMemory>>,
    /// The instance's memory limit.
    pub limits: super::guest_limits::GuestLimits,
    /// The CPU budget per event, in epoch ticks.
    pub cpu_ticks: u64,
    /// What is left of the current budget.
    pub ticks_left: u64,
    /// The 8 bytes in guest memory where the guest writes where a call's
    /// reply is; allocated on the instance's first call and kept.
    pub reply_slot: Option<u32>,
}

/// Gives the instance a fresh CPU budget: before each entry into the guest,
/// and after a host call that waited (time spent waiting is not the
/// guest's).
pub fn arm_budget(mut store: impl wasmtime::AsContextMut<Data = HostState>) {
    let mut context = store.as_context_mut();
    let data = context.data_mut();
    data.ticks_left = data.cpu_ticks;
    context.set_epoch_deadline(1);
}

/// At every epoch tick while the guest runs: spend one tick of its budget
/// and yield to the executor (so a busy guest never holds a worker thread
/// and a stop is seen within a tick), or interrupt it when the budget is
/// spent.
pub fn on_epoch_tick(
    mut context: wasmtime::StoreContextMut<'_, HostState>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let data = context.data_mut();
    if data.ticks_left <= 1 {
        return Ok(wasmtime::UpdateDeadline::Interrupt);
    }
    data.ticks_left -= 1;
    Ok(wasmtime::UpdateDeadline::Yield(1))
}

/// The guest's memory and allocator.
#[derive(Clone)]
pub struct GuestMemory {
    pub memory: Memory,
    pub alloc: TypedFunc<u32, u32>,
    pub free: TypedFunc<(u32, u32), ()>,
}

fn exports(caller: &Caller<'_, HostState>) -> wasmtime::Result<std::sync::Arc<GuestMemory>> {
    caller
        .data()
        .exports
        .clone()
        .ok_or_else(|| format_err!("guest memory not ready"))
}

/// The guest's memory.
fn memory(caller: &Caller<'_, HostState>) -> wasmtime::Result<Memory> {
    caller
        .data()
        .exports
        .as_ref()
        .map(|g| g.memory)
        .ok_or_else(|| format_err!("guest memory not ready"))
}

/// The `len` bytes at `ptr` of guest memory `data`.
fn guest_slice(data: &[u8], ptr: u32, len: u32) -> wasmtime::Result<&[u8]> {
    let start = ptr as usize;
    data.get(start..start + len as usize)
        .ok_or_else(|| format_err!("guest buffer {ptr}+{len} is outside its memory"))
}

/// Copies `len` bytes at `ptr` out of the guest.
fn read_bytes(caller: &Caller<'_, HostState>, ptr: u32, len: u32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    guest_slice(memory.data(caller), ptr, len).map(<[u8]>::to_vec)
}

fn read_string(caller: &Caller<'_, HostState>, ptr: u32, len: u32) -> wasmtime::Result<String> {
    String::from_utf8(read_bytes(caller, ptr, len)?).map_err(|_| format_err!("a name is not UTF-8"))
}

fn read_instance_id(caller: &Caller<'_, HostState>, ptr: u32) -> wasmtime::Result<InstanceId> {
    let bytes: [u8; 32] = read_bytes(caller, ptr, 32)?
        .try_into()
        .map_err(|_| format_err!("bad instance id"))?;
    Ok(InstanceId::from_bytes(&bytes))
}

fn write_bytes(caller: &mut Caller<'_, HostState>, ptr: u32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    memory
        .write(caller, ptr as usize, bytes)
        .map_err(|_| format_err!("guest buffer {ptr} is outside its memory"))
}

/// Copies `bytes` into a fresh guest buffer; returns its pointer (0 if empty).
pub async fn copy_into_guest<T: AsGuest>(store: &mut T, bytes: &[u8]) -> wasmtime::Result<u32> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let guest = store.guest()?;
    let ptr = guest
        .alloc
        .call_async(store.context(), bytes.len() as u32)
        .await?;
    if ptr == 0 {
        return Err(format_err!(
            "the guest could not allocate {} bytes",
            bytes.len()
        ));
    }
    guest
        .memory
        .write(store.context(), ptr as usize, bytes)
        .map_err(|_| format_err!("the guest allocator returned a bad pointer"))?;
    Ok(ptr)
}

/// Both a `Store` and a `Caller` can copy into the guest.
pub trait AsGuest {
    fn guest(&self) -> wasmtime::Result<std::sync::Arc<GuestMemory>>;
    fn context(&mut self) -> wasmtime::StoreContextMut<'_, HostState>;
}

impl AsGuest for wasmtime::Store<HostState> {
    fn guest(&self) -> wasmtime::Result<std::sync::Arc<GuestMemory>> {
        self.data()
            .exports
            .clone()
            .ok_or_else(|| format_err!("guest memory not ready"))
    }
    fn context(&mut self) -> wasmtime::StoreContextMut<'_, HostState> {
        wasmtime::AsContextMut::as_context_mut(self)
    }
}

impl AsGuest for Caller<'_, HostState> {
    fn guest(&self) -> wasmtime::Result<std::sync::Arc<GuestMemory>> {
        exports(self)
    }
    fn context(&mut self) -> wasmtime::StoreContextMut<'_, HostState> {
        wasmtime::AsContextMut::as_context_mut(self)
    }
}

/// Calls `target`, then hands the outcome to the guest.
async fn call(
    caller: &mut Caller<'_, HostState>,
    target: InstanceId,
    payload: Bytes,
    out_ptr: u32,
) -> wasmtime::Result<i32> {
    let outcome = caller.data().host.call(target, payload).await;
    arm_budget(&mut *caller);
    finish_call(caller, outcome, out_ptr).await
}

/// Writes a call's outcome for the guest: the reply into a new guest buffer
/// whose pointer and length go to `out_ptr`.
async fn finish_call(
    caller: &mut Caller<'_, HostState>,
    outcome: CallOutcome,
    out_ptr: u32,
) -> wasmtime::Result<i32> {
    match outcome {
        CallOutcome::NoReply => Ok(CALL_NO_REPLY),
        CallOutcome::Err(_) => Ok(CALL_ERR),
        CallOutcome::Reply(bytes) => {
            let ptr = copy_into_guest(caller, &bytes).await?;
            let mut slot = [0u8; 8];
            slot[..4].copy_from_slice(&ptr.to_le_bytes());
            slot[4..].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            write_bytes(caller, out_ptr, &slot)?;
            Ok(CALL_REPLY)
        }
    }
}

/// The guest's view of a send: 0 sent, 1 not sent.
fn status(sent: Result<(), super::instance_host::NotSent>) -> i32 {
    i32::from(sent.is_err())
}

/// Defines every import of module `edgeless`.
pub fn define_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "edgeless",
        "cast",
        |mut caller: Caller<'_, HostState>,
         (alias_ptr, alias_len, msg_ptr, msg_len): (u32, u32, u32, u32)| {
            Box::new(async move {
                let alias = read_string(&caller, alias_ptr, alias_len)?;
                let payload = Bytes::from(read_bytes(&caller, msg_ptr, msg_len)?);
                let sent = caller.data().host.cast_alias(&alias, payload).await;
                arm_budget(&mut caller);
                Ok(status(sent))
            })
        },
    )?;
    linker.func_wrap(
        "edgeless",
        "cast_raw",
        |caller: Caller<'_, HostState>,
         id_ptr: u32,
         msg_ptr: u32,
         msg_len: u32|
         -> wasmtime::Result<i32> {
            let target = read_instance_id(&caller, id_ptr)?;
            let payload = Bytes::from(read_bytes(&caller, msg_ptr, msg_len)?);
            Ok(status(caller.data().host.cast(target, payload)))
        },
    )?;
    linker.func_wrap_async(
        "edgeless",
        "call",
        |mut caller: Caller<'_, HostState>,
         (alias_ptr, alias_len, msg_ptr, msg_len, out_ptr): (u32, u32, u32, u32, u32)| {
            Box::new(async move {
                let alias = read_string(&caller, alias_ptr, alias_len)?;
                let payload = Bytes::from(read_bytes(&caller, msg_ptr, msg_len)?);
                let Ok(target) = caller.data().host.resolve(&alias).await else {
                    arm_budget(&mut caller);
                    return Ok(CALL_ERR);
                };
                call(&mut caller, target, payload, out_ptr).await
            })
        },
    )?;
    linker.func_wrap_async(
        "edgeless",
        "call_raw",
        |mut caller: Caller<'_, HostState>,
         (id_ptr, msg_ptr, msg_len, out_ptr): (u32, u32, u32, u32)| {
            Box::new(async move {
                let target = read_instance_id(&caller, id_ptr)?;
                let payload = Bytes::from(read_bytes(&caller, msg_ptr, msg_len)?);
                call(&mut caller, target, payload, out_ptr).await
            })
        },
    )?;
    linker.func_wrap_async(
        "edgeless",
        "delayed_cast",
        |mut caller: Caller<'_, HostState>,
         (delay_ms, alias_ptr, alias_len, msg_ptr, msg_len): (u64, u32, u32, u32, u32)| {
            Box::new(async move {
                let alias = read_string(&caller, alias_ptr, alias_len)?;
                let payload = Bytes::from(read_bytes(&caller, msg_ptr, msg_len)?);
                let delay = Duration::from_millis(delay_ms);
                let sent = caller
                    .data()
                    .host
                    .delayed_cast(delay, &alias, payload)
                    .await;
                arm_budget(&mut caller);
                Ok(status(sent))
            })
        },
    )?;
    linker.func_wrap(
        "edgeless",
        "sync",
        |caller: Caller<'_, HostState>, ptr: u32, len: u32| -> wasmtime::Result<i32> {
            let bytes = Bytes::from(read_bytes(&caller, ptr, len)?);
            // A refused state is logged for the function, which hears of
            // it and keeps running.
            Ok(i32::from(caller.data().host.sync(bytes).is_err()))
        },
    )?;
    linker.func_wrap(
        "edgeless",
        "log",
        |caller: Caller<'_, HostState>,
         level: i32,
         target_ptr: u32,
         target_len: u32,
         msg_ptr: u32,
         msg_len: u32|
         -> wasmtime::Result<()> {
            // Read in place: the log keeps its own copy of the line.
            let memory = memory(&caller)?;
            let data = memory.data(&caller);
            let target = String::from_utf8_lossy(guest_slice(data, target_ptr, target_len)?);
            let message = String::from_utf8_lossy(guest_slice(data, msg_ptr, msg_len)?);
            caller.data().host.log(level, &target, &message);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "edgeless",
        "slf",
        |mut caller: Caller<'_, HostState>, out_ptr: u32| -> wasmtime::Result<()> {
            let id = caller.data().host.id.to_bytes();
            write_bytes(&mut caller, out_ptr, &id)
        },
    )?;
    Ok(())
}
