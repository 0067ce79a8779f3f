//! The inbox: the faster way to hand events to a guest that exports
//! `edgeless_inbox`, `handle_cast_inbox` and `handle_call_inbox` (every
//! function built with the edgeless SDK does). The node writes each event's
//! source id and message into one buffer the guest keeps, then enters the
//! guest once: no guest allocation and free per event, and for a call no
//! free of the reply (it stays the guest's until its next event). Modules
//! without these exports get events the original way (see `wasm.rs`).

use edgeless_api::InstanceId;
use wasmtime::{Instance, Store, TypedFunc};

use super::StartError;
use super::host::HostState;

/// The names of the inbox exports; a module has all of them or none.
const EXPORTS: [&str; 3] = ["edgeless_inbox", "handle_cast_inbox", "handle_call_inbox"];

/// A guest's inbox exports and where its buffer is.
pub struct Inbox {
    grow: TypedFunc<u32, u32>,
    cast: TypedFunc<u32, ()>,
    call: TypedFunc<(u32, u32), i32>,
    /// The buffer's place in guest memory and its length, once asked for.
    place: Option<(u32, u32)>,
}

impl Inbox {
    /// The inbox of `instance`, if its module has one. A module with only
    /// some of the exports, or with exports of the wrong type, is refused.
    pub fn find(
        instance: &Instance,
        store: &mut Store<HostState>,
    ) -> Result<Option<Self>, StartError> {
        let present: Vec<&str> = EXPORTS
            .into_iter()
            .filter(|name| instance.get_export(&mut *store, name).is_some())
            .collect();
        if present.is_empty() {
            return Ok(None);
        }
        if present.len() < EXPORTS.len() {
            return Err(StartError::BadCode(format!(
                "the module exports {} but not all of {}",
                present.join(", "),
                EXPORTS.join(", ")
            )));
        }
        let bad = |e: wasmtime::Error| {
            StartError::BadCode(format!("an inbox export has the wrong type: {e:#}"))
        };
        Ok(Some(Self {
            grow: instance
                .get_typed_func(&mut *store, EXPORTS[0])
                .map_err(bad)?,
            cast: instance
                .get_typed_func(&mut *store, EXPORTS[1])
                .map_err(bad)?,
            call: instance
                .get_typed_func(&mut *store, EXPORTS[2])
                .map_err(bad)?,
            place: None,
        }))
    }

    /// Hands a cast to the guest.
    pub async fn cast(
        &mut self,
        store: &mut Store<HostState>,
        source: &InstanceId,
        message: &[u8],
    ) -> wasmtime::Result<()> {
        let len = self.fill(store, source, message).await?;
        self.cast.call_async(&mut *store, len).await
    }

    /// Hands a call to the guest; returns its answer code, with the reply
    /// (if any) described at `out_ptr`. The reply stays the guest's.
    pub async fn call(
        &mut self,
        store: &mut Store<HostState>,
        source: &InstanceId,
        message: &[u8],
        out_ptr: u32,
    ) -> wasmtime::Result<i32> {
        let len = self.fill(store, source, message).await?;
        self.call.call_async(&mut *store, (len, out_ptr)).await
    }

    /// Writes the event into the buffer, asking the guest for a larger one
    /// first when it does not fit. Returns the message's length.
    async fn fill(
        &mut self,
        store: &mut Store<HostState>,
        source: &InstanceId,
        message: &[u8],
    ) -> wasmtime::Result<u32> {
        let too_large = || wasmtime::format_err!("an event of {} bytes", message.len());
        let msg_len = u32::try_from(message.len()).map_err(|_| too_large())?;
        let len = msg_len.checked_add(32).ok_or_else(too_large)?;
        let ptr = match self.place {
            Some((ptr, capacity)) if capacity >= len => ptr,
            _ => {
                let ptr = self.grow.call_async(&mut *store, len).await?;
                if ptr == 0 {
                    return Err(wasmtime::format_err!(
                        "the guest could not allocate an inbox of {len} bytes"
                    ));
                }
                self.place = Some((ptr, len));
                ptr
            }
        };
        let memory = store
            .data()
            .exports
            .as_ref()
            .map(|guest| guest.memory)
            .ok_or_else(|| wasmtime::format_err!("guest memory not ready"))?;
        let start = ptr as usize;
        let place = memory
            .data_mut(&mut *store)
            .get_mut(start..start + len as usize)
            .ok_or_else(|| {
                wasmtime::format_err!("the inbox {ptr}+{len} is outside guest memory")
            })?;
        place[..32].copy_from_slice(&source.to_bytes());
        place[32..].copy_from_slice(message);
        Ok(msg_len)
    }
}
