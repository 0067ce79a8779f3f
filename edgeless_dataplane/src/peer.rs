//! Links to other nodes. [`GrpcPeerLink`] keeps one client stream per peer
//! open and reopens it with back-off; events queue (bounded) meanwhile.
//! Events that were in flight on a stream that broke are lost: delivery
//! between nodes is at most once.

use std::sync::Arc;
use std::time::Duration;

use edgeless_api::event::Event;
use edgeless_api::proto::{self, function_invocation_client::FunctionInvocationClient};
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

use crate::{DeliveryError, PEER_QUEUE_CAPACITY};

/// How events reach another node. TLS or inter-domain links implement this too.
pub trait PeerLink: Send + Sync {
    /// Queues `event` for the peer; fails at once when it cannot.
    fn send(&self, event: Event) -> Result<(), DeliveryError>;
}

/// The largest number of events sent in one batch.
const MAX_BATCH: usize = 512;

/// A link over a long-lived `FunctionInvocation.Stream` call.
pub struct GrpcPeerLink {
    node_id: Uuid,
    queue: mpsc::Sender<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcPeerLink {
    /// Opens (lazily, and again after failures) a stream to `invocation_url`.
    pub fn connect(
        node_id: Uuid,
        invocation_url: &str,
    ) -> Result<Self, edgeless_api::client::InvalidUrl> {
        let channel = edgeless_api::client::stream_channel(invocation_url)?;
        let (queue, rx) = mpsc::channel(PEER_QUEUE_CAPACITY);
        let url = invocation_url.to_string();
        let task = tokio::spawn(run_link(node_id, url, channel, Arc::new(Mutex::new(rx))));
        Ok(Self {
            node_id,
            queue,
            task,
        })
    }
}

impl Drop for GrpcPeerLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PeerLink for GrpcPeerLink {
    fn send(&self, event: Event) -> Result<(), DeliveryError> {
        self.queue
            .try_send(event)
            .map_err(|_| DeliveryError::PeerCongested(self.node_id))
    }
}

async fn run_link(
    node_id: Uuid,
    url: String,
    channel: edgeless_api::client::Channel,
    queue: Arc<Mutex<mpsc::Receiver<Event>>>,
) {
    let mut client = FunctionInvocationClient::new(channel);
    let mut backoff = Duration::from_millis(50);
    loop {
        let batches = futures::stream::unfold(queue.clone(), |queue| async move {
            let mut events = Vec::new();
            let received = queue.lock().await.recv_many(&mut events, MAX_BATCH).await;
            if received == 0 {
                return None;
            }
            let batch = proto::EventBatch {
                events: events.into_iter().map(Into::into).collect(),
            };
            Some((batch, queue))
        });
        match client.stream(batches).await {
            Ok(_) => {
                tracing::debug!(peer = %node_id, "peer link closed");
                return;
            }
            Err(status) => {
                tracing::warn!(peer = %node_id, %url, error = %status.message(), "peer link broken, reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
