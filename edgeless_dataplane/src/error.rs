use edgeless_api::InstanceId;
use uuid::Uuid;

/// Why an event was not delivered.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    /// No instance with this id runs on its node (never started, or stopped).
    #[error("no instance {0} on its node (unknown or stopped)")]
    UnknownTarget(InstanceId),
    /// The target's node is not a known peer.
    #[error("node {0} is not a known peer")]
    UnknownNode(Uuid),
    /// The target's mailbox is full: it is not keeping up.
    #[error("the mailbox of {0} is full")]
    MailboxFull(InstanceId),
    /// The payload is larger than [`crate::MAX_PAYLOAD`].
    #[error("the payload has {0} bytes; at most {max} are allowed", max = crate::MAX_PAYLOAD)]
    TooLarge(usize),
    /// The source is not mapped to the target in their workflow.
    #[error("{sender} is not mapped to {target}: events flow only along a workflow's mappings")]
    NotMapped {
        /// The sender.
        sender: InstanceId,
        /// The refused target.
        target: InstanceId,
    },
    /// Too many events wait for the link to this peer.
    #[error("the link to node {0} is congested or down")]
    PeerCongested(Uuid),
}
