//! Carries events between function and resource instances.
//!
//! Each node owns one [`Dataplane`]. An instance registers and gets a
//! [`DataplaneHandle`]: a mailbox to read casts and calls from, and an
//! [`EventSender`] to cast, call (with a deadline) and reply. Events for an
//! instance of the same node go straight into its mailbox; events for another
//! node go through the [`PeerLink`] registered for that node: a long-lived
//! gRPC stream ([`GrpcPeerLink`]) that batches whatever queues up. Nothing is
//! dropped silently: a failed delivery is a [`DeliveryError`] for the sender,
//! or a log line and an error reply on the receiving node.

mod error;
mod handle;
mod peer;
mod peers;
mod router;
mod service;

pub use error::DeliveryError;
pub use handle::{CallOutcome, DataplaneHandle, EventSender};
pub use peer::{GrpcPeerLink, LinkStats, PeerLink};
pub use peers::PeerDirectory;
pub use router::{Dataplane, PeerStats};
pub use service::InvocationService;

/// How many events may wait in an instance's mailbox before senders are told
/// it is full.
pub const MAILBOX_CAPACITY: usize = 4096;
/// The most calls of one instance waiting for their replies at once.
pub const MAX_PENDING_CALLS: usize = 1024;
/// The largest payload an event may carry.
pub const MAX_PAYLOAD: usize = 8 << 20;
/// How many events may wait for a peer link before senders are told it is full.
pub const PEER_QUEUE_CAPACITY: usize = 16384;
