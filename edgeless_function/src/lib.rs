//! The SDK for edgeless functions compiled to `wasm32-unknown-unknown`.
//!
//! A function implements [`EdgeFunction`] and exports it with [`export!`]:
//!
//! ```text
//! struct Echo;
//! impl edgeless_function::EdgeFunction for Echo {
//!     fn handle_cast(_src: InstanceId, message: &[u8]) { edgeless_function::cast("out", message); }
//!     fn handle_call(_src: InstanceId, message: &[u8]) -> CallRet {
//!         CallRet::Reply(OwnedByteBuff::new_from_slice(message))
//!     }
//!     fn handle_init(_payload: Option<&[u8]>, _state: Option<&[u8]>) {}
//!     fn handle_stop() {}
//! }
//! edgeless_function::export!(Echo);
//! ```
//!
//! Inside a handler the function talks to the platform through [`cast`],
//! [`call`], [`delayed_cast`], [`sync`], [`slf`] and the [`log`] macros
//! (after [`init_logger`]). `cast`, `delayed_cast` and `sync` never fail in
//! the function's eyes (the node logs and counts what could not be sent or
//! saved); [`try_cast`], [`try_delayed_cast`] and [`try_sync`] return the
//! outcome. The API is that of the original EDGELESS SDK, so functions
//! written for it build unchanged. The module [`abi`] holds the raw interface with the
//! host; function authors never need it.
#![warn(missing_docs)]

pub mod abi;
mod host;
pub mod http;
mod init_payload;
pub mod lcg;
mod logger;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod owned_data;

pub use host::{
    SendError, SyncError, call, call_raw, cast, cast_raw, delayed_cast, slf, sync, telemetry_log,
    try_cast, try_cast_raw, try_delayed_cast, try_sync,
};
pub use init_payload::{arg_to_bool, arg_to_vec, init_payload_to_args, parse_init_payload};
pub use log;
pub use logger::init_logger;
pub use owned_data::OwnedByteBuff;

/// The output API: sending events, calls, state, logs and the instance's
/// own id (also at the crate root).
pub mod output_api {
    pub use crate::host::{
        SendError, SyncError, call, call_raw, cast, cast_raw, delayed_cast, slf, sync,
        telemetry_log, try_cast, try_cast_raw, try_delayed_cast, try_sync,
    };
}

/// Logging through the node: [`init_logger`](crate::init_logger) and the
/// level numbers.
pub mod logging {
    pub use crate::logger::{init_logger, rust_to_api};
}

/// The exports a function module has: [`export!`](crate::export) generates
/// them.
pub mod export {
    pub use crate::export;
}

/// The host functions a function module imports (see [`crate::abi`]).
pub mod imports {
    pub use crate::abi::{CALL_ERR, CALL_NO_REPLY, CALL_REPLY};
    #[cfg(target_arch = "wasm32")]
    pub use crate::abi::{call, call_raw, cast, cast_raw, delayed_cast, log, slf, sync};
}

/// The buffers the host and the function hand each other.
pub mod memory {
    pub use crate::abi::{alloc_buffer, free_buffer, leak_reply, optional_slice, take_reply};
}

/// An instance somewhere in the cluster: its node and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InstanceId {
    /// The node's UUID bytes.
    pub node_id: [u8; 16],
    /// The instance's UUID bytes.
    pub component_id: [u8; 16],
}

impl InstanceId {
    /// Reads the 32-byte form the host uses (node id, then component id).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut id = Self::default();
        id.node_id.copy_from_slice(&bytes[..16]);
        id.component_id.copy_from_slice(&bytes[16..]);
        id
    }

    /// The 32-byte form the host uses.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&self.node_id);
        out[16..].copy_from_slice(&self.component_id);
        out
    }
}

impl core::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        fn hex(f: &mut core::fmt::Formatter<'_>, bytes: &[u8; 16]) -> core::fmt::Result {
            for (i, b) in bytes.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    f.write_str("-")?;
                }
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
        hex(f, &self.node_id)?;
        f.write_str("/")?;
        hex(f, &self.component_id)
    }
}

/// The answer to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallRet {
    /// The callee handled the call but has nothing to say.
    NoReply,
    /// The callee's reply.
    Reply(OwnedByteBuff),
    /// The call failed: no such target, a timeout, or the callee failed.
    Err,
}

/// What a function implements. One instance of the WASM module is one
/// instance of the function; its state lives in statics.
pub trait EdgeFunction {
    /// Called once when the instance starts, with the `init-payload`
    /// annotation and the state last saved with [`sync`] (if any).
    fn handle_init(payload: Option<&[u8]>, serialized_state: Option<&[u8]>);
    /// A one-way message from `src`.
    fn handle_cast(src: InstanceId, message: &[u8]);
    /// A request from `src` that expects an answer.
    fn handle_call(src: InstanceId, message: &[u8]) -> CallRet;
    /// Called once before the instance is removed.
    fn handle_stop();
}
