//! Bounds on what one request may ask of a daemon. Every gRPC server and
//! client of edgeless uses these message sizes (tonic's own default for
//! encoding is unbounded); a larger message is refused with
//! `OUT_OF_RANGE` ("decoded message length too large") before it is read
//! whole.

/// The largest control-plane message: a workflow with its WebAssembly code,
/// a function start, a node's registration with its saved states.
pub const MAX_CONTROL_MESSAGE: usize = 64 << 20;

/// The largest dataplane message: one batch of events between nodes (an
/// event's payload is at most 8 MiB; batches are cut to fit).
pub const MAX_DATAPLANE_MESSAGE: usize = 16 << 20;

/// The largest state a function may save with `sync`.
pub const MAX_STATE: usize = 1 << 20;

/// The most instances one component may ask for (`max_instances`).
pub const MAX_INSTANCES: usize = 256;
