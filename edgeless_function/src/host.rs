//! Safe wrappers over the host imports of [`crate::abi`]. Outside WebAssembly
//! they go to the host installed with [`crate::native::install`] (a container
//! function's runtime does that); with none installed (e.g. when
//! unit-testing a function's helpers natively) casts report failure, calls
//! return [`CallRet::Err`] and logs go nowhere.

use crate::{CallRet, InstanceId};

/// Why an event could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError;

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the event could not be sent (unmapped output or unknown target)")
    }
}

/// Why a state was not saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncError;

impl core::fmt::Display for SyncError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(
            "the state was not saved (larger than the node allows, 1 MiB, or no node to keep it)",
        )
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::abi;

    fn status(code: i32) -> Result<(), SendError> {
        if code == 0 { Ok(()) } else { Err(SendError) }
    }

    fn call_ret(code: i32, out: &[u32; 2]) -> CallRet {
        match code {
            abi::CALL_NO_REPLY => CallRet::NoReply,
            abi::CALL_REPLY => CallRet::Reply(unsafe { abi::take_reply(out) }.into()),
            _ => CallRet::Err,
        }
    }

    pub fn cast(output: &str, message: &[u8]) -> Result<(), SendError> {
        status(unsafe {
            abi::cast(
                output.as_ptr(),
                output.len(),
                message.as_ptr(),
                message.len(),
            )
        })
    }

    pub fn cast_raw(target: InstanceId, message: &[u8]) -> Result<(), SendError> {
        let id = target.to_bytes();
        status(unsafe { abi::cast_raw(id.as_ptr(), message.as_ptr(), message.len()) })
    }

    pub fn call(output: &str, message: &[u8]) -> CallRet {
        let mut out = [0u32; 2];
        let code = unsafe {
            abi::call(
                output.as_ptr(),
                output.len(),
                message.as_ptr(),
                message.len(),
                out.as_mut_ptr(),
            )
        };
        call_ret(code, &out)
    }

    pub fn call_raw(target: InstanceId, message: &[u8]) -> CallRet {
        let mut out = [0u32; 2];
        let id = target.to_bytes();
        let code = unsafe {
            abi::call_raw(
                id.as_ptr(),
                message.as_ptr(),
                message.len(),
                out.as_mut_ptr(),
            )
        };
        call_ret(code, &out)
    }

    pub fn delayed_cast(delay_ms: u64, output: &str, message: &[u8]) -> Result<(), SendError> {
        status(unsafe {
            abi::delayed_cast(
                delay_ms,
                output.as_ptr(),
                output.len(),
                message.as_ptr(),
                message.len(),
            )
        })
    }

    pub fn sync(state: &[u8]) -> Result<(), SyncError> {
        match unsafe { abi::sync(state.as_ptr(), state.len()) } {
            0 => Ok(()),
            _ => Err(SyncError),
        }
    }

    pub fn telemetry_log(level: usize, target: &str, message: &str) {
        unsafe {
            abi::log(
                level as i32,
                target.as_ptr(),
                target.len(),
                message.as_ptr(),
                message.len(),
            )
        }
    }

    pub fn slf() -> InstanceId {
        let mut out = [0u8; 32];
        unsafe { abi::slf(out.as_mut_ptr()) };
        InstanceId::from_bytes(&out)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;
    use crate::native::installed;

    pub fn cast(output: &str, message: &[u8]) -> Result<(), SendError> {
        installed().map_or(Err(SendError), |h| h.cast(output, message))
    }
    pub fn cast_raw(target: InstanceId, message: &[u8]) -> Result<(), SendError> {
        installed().map_or(Err(SendError), |h| h.cast_raw(target, message))
    }
    pub fn call(output: &str, message: &[u8]) -> CallRet {
        installed().map_or(CallRet::Err, |h| h.call(output, message))
    }
    pub fn call_raw(target: InstanceId, message: &[u8]) -> CallRet {
        installed().map_or(CallRet::Err, |h| h.call_raw(target, message))
    }
    pub fn delayed_cast(delay_ms: u64, output: &str, message: &[u8]) -> Result<(), SendError> {
        installed().map_or(Err(SendError), |h| {
            h.delayed_cast(delay_ms, output, message)
        })
    }
    pub fn sync(state: &[u8]) -> Result<(), SyncError> {
        installed().map_or(Err(SyncError), |h| h.sync(state))
    }
    pub fn telemetry_log(level: usize, target: &str, message: &str) {
        if let Some(h) = installed() {
            h.telemetry_log(level, target, message)
        }
    }
    pub fn slf() -> InstanceId {
        installed().map_or_else(InstanceId::default, |h| h.slf())
    }
}

/// Sends `message` on output channel `output` (or to this instance for
/// `"self"`). An event that cannot be sent (unmapped output, unknown
/// target, full queue) is logged and counted by the node; [`try_cast`] also
/// tells the function.
pub fn cast(output: &str, message: &[u8]) {
    let _ = imp::cast(output, message);
}

/// [`cast`], telling whether the event was sent.
pub fn try_cast(output: &str, message: &[u8]) -> Result<(), SendError> {
    imp::cast(output, message)
}

/// Sends `message` to a specific instance, e.g. the source of an event
/// (failures as for [`cast`]).
pub fn cast_raw(target: InstanceId, message: &[u8]) {
    let _ = imp::cast_raw(target, message);
}

/// [`cast_raw`], telling whether the event was sent.
pub fn try_cast_raw(target: InstanceId, message: &[u8]) -> Result<(), SendError> {
    imp::cast_raw(target, message)
}

/// Calls the target of output `output` and waits for its answer (with a
/// deadline: a target that does not answer gives [`CallRet::Err`]).
pub fn call(output: &str, message: &[u8]) -> CallRet {
    imp::call(output, message)
}

/// Calls a specific instance and waits for its answer.
pub fn call_raw(target: InstanceId, message: &[u8]) -> CallRet {
    imp::call_raw(target, message)
}

/// Sends `message` on `output` after `delay_ms` milliseconds (failures as
/// for [`cast`]).
pub fn delayed_cast(delay_ms: u64, output: &str, message: &[u8]) {
    let _ = imp::delayed_cast(delay_ms, output, message);
}

/// [`delayed_cast`], telling whether the cast was scheduled.
pub fn try_delayed_cast(delay_ms: u64, output: &str, message: &[u8]) -> Result<(), SendError> {
    imp::delayed_cast(delay_ms, output, message)
}

/// Saves the instance's state; it is handed to `handle_init` if the instance
/// is re-created. A state larger than the node allows (1 MiB) is refused
/// (and logged by the node): the function keeps running, with the state
/// saved before. [`try_sync`] also tells the function.
pub fn sync(state: &[u8]) {
    let _ = imp::sync(state);
}

/// [`sync`], telling whether the state was saved.
pub fn try_sync(state: &[u8]) -> Result<(), SyncError> {
    imp::sync(state)
}

/// Writes a line to the node's log, tagged with this instance.
/// Levels: 1 error, 2 warn, 3 info, 4 debug, 5 trace.
pub fn telemetry_log(level: usize, target: &str, message: &str) {
    imp::telemetry_log(level, target, message)
}

/// This instance's own id.
pub fn slf() -> InstanceId {
    imp::slf()
}
