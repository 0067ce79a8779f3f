//! The platform interface outside WebAssembly. A native runtime (the
//! container-function runtime, `edgeless_container_function`) installs a
//! [`Host`] once at start; from then on [`crate::cast`], [`crate::call`] and
//! the rest go to it, so the same function source runs as a WASM module and
//! as a native process.

use std::sync::OnceLock;

use crate::{CallRet, InstanceId, SendError};

/// What the platform offers a function: the same operations as the WASM
/// imports.
pub trait Host: Send + Sync {
    /// See [`crate::cast`].
    fn cast(&self, output: &str, message: &[u8]) -> Result<(), SendError>;
    /// See [`crate::cast_raw`].
    fn cast_raw(&self, target: InstanceId, message: &[u8]) -> Result<(), SendError>;
    /// See [`crate::call`].
    fn call(&self, output: &str, message: &[u8]) -> CallRet;
    /// See [`crate::call_raw`].
    fn call_raw(&self, target: InstanceId, message: &[u8]) -> CallRet;
    /// See [`crate::delayed_cast`].
    fn delayed_cast(&self, delay_ms: u64, output: &str, message: &[u8]) -> Result<(), SendError>;
    /// See [`crate::sync`].
    fn sync(&self, state: &[u8]) -> Result<(), crate::SyncError>;
    /// See [`crate::telemetry_log`].
    fn telemetry_log(&self, level: usize, target: &str, message: &str);
    /// See [`crate::slf`].
    fn slf(&self) -> InstanceId;
}

static HOST: OnceLock<Box<dyn Host>> = OnceLock::new();

/// Installs the host. Only the first call has an effect; returns whether
/// this one did.
pub fn install(host: Box<dyn Host>) -> bool {
    HOST.set(host).is_ok()
}

pub(crate) fn installed() -> Option<&'static dyn Host> {
    HOST.get().map(|h| h.as_ref())
}
