//! The contract between edgeless components: the gRPC services generated from
//! `proto/edgeless.proto`, the plain types the rest of the code works with
//! (`InstanceId`, `Event`, `WorkflowSpec`), their validated conversions, and a
//! small helper to open client channels with deadlines.
//!
//! Start with [`InstanceId`], [`event::Event`] and [`workflow::WorkflowSpec`].
#![warn(missing_docs)]

pub mod annotations;
pub mod client;
pub mod daemon;
pub mod event;
mod ids;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tls;
pub mod workflow;

pub use ids::{InstanceId, InvalidId, parse_uuid};

/// Code generated from `proto/edgeless.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("edgeless_api");
}

/// The function type of WebAssembly functions.
pub const RUST_WASM: &str = "RUST_WASM";
/// The function type of functions that run as Docker containers.
pub const CONTAINER: &str = "CONTAINER";

/// Seconds since the Unix epoch, for refresh deadlines.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
