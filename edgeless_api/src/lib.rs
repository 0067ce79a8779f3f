//! The contract between edgeless components: the gRPC services generated from
//! `proto/edgeless.proto`, the plain types the rest of the code works with
//! (`InstanceId`, `Event`, `WorkflowSpec`), their validated conversions, and a
//! small helper to open client channels with deadlines.
//!
//! Start with [`InstanceId`], [`event::Event`] and [`workflow::WorkflowSpec`].
#![warn(missing_docs)]

pub mod annotations;
pub mod auth;
pub mod client;
pub mod code_table;
pub mod config_env;
pub mod connection_slots;
pub mod daemon;
pub mod event;
pub mod fanout;
pub mod feed;
pub mod grpc_metrics;
mod ids;
pub mod limits;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod workflow;

pub use ids::{InstanceId, InvalidId, parse_uuid};

/// Code generated from `proto/edgeless.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("edgeless_api");

    /// The encoded descriptors of `proto/edgeless.proto`, served by the
    /// gRPC reflection service of every server.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/edgeless_descriptor.bin"));
}

/// The function type of WebAssembly functions.
pub const RUST_WASM: &str = "RUST_WASM";
/// The function type of functions that run as Docker containers.
pub const CONTAINER: &str = "CONTAINER";

/// The version of the gRPC API in `proto/edgeless.proto`; raised when a
/// change breaks older peers.
pub const API_VERSION: u32 = 1;

/// The longest lease a registration may ask for: a node or an orchestrator
/// that stops refreshing is dropped at most this long after its last
/// refresh, whatever deadline it announced.
pub const MAX_LEASE_SEC: u64 = 600;

/// The deadline a registration announcing `requested` gets at `now`: at
/// most [`MAX_LEASE_SEC`] ahead.
pub fn capped_deadline(requested: u64, now: u64) -> u64 {
    requested.min(now.saturating_add(MAX_LEASE_SEC))
}

/// Seconds since the Unix epoch, for refresh deadlines.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod lease_tests {
    use super::*;

    #[test]
    fn announced_deadlines_are_capped() {
        assert_eq!(capped_deadline(100, 90), 100);
        assert_eq!(capped_deadline(u64::MAX, 90), 90 + MAX_LEASE_SEC);
        assert_eq!(capped_deadline(u64::MAX, u64::MAX), u64::MAX);
    }
}
