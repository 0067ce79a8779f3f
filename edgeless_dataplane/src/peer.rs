//! Links to other nodes. [`GrpcPeerLink`] keeps one client stream per peer
//! open and reopens it with back-off; events queue (bounded) meanwhile.
//! Events that were in flight on a stream that broke are lost: delivery
//! between nodes is at most once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

    /// What went through the link so far (for metrics).
    fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
}

/// What went through a peer link so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Events handed to the peer's stream.
    pub events: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Events refused because the link's queue was full.
    pub refused: u64,
    /// Events waiting in the queue now.
    pub queued: u64,
}

/// A link's counters, updated once per batch (sent) or per refusal, never
/// per delivered event.
#[derive(Default)]
struct Counters {
    events: AtomicU64,
    bytes: AtomicU64,
    refused: AtomicU64,
}

/// The largest number of events sent in one batch.
const MAX_BATCH: usize = 512;
/// The most payload bytes of one batch: with the largest payload and the
/// events' ids it stays below the peer's message limit.
const MAX_BATCH_BYTES: usize = edgeless_api::limits::MAX_DATAPLANE_MESSAGE / 2;

/// The next batch from `waiting`: at least one event, then as many as fit
/// in [`MAX_BATCH_BYTES`].
fn take_batch(waiting: &mut VecDeque<Event>) -> proto::EventBatch {
    let mut events = Vec::new();
    let mut bytes = 0;
    while let Some(event) = waiting.pop_front() {
        if !events.is_empty() && bytes + event.payload.len() > MAX_BATCH_BYTES {
            waiting.push_front(event);
            break;
        }
        bytes += event.payload.len();
        events.push(event.into());
    }
    proto::EventBatch { events }
}

/// A link over a long-lived `FunctionInvocation.Stream` call.
pub struct GrpcPeerLink {
    node_id: Uuid,
    queue: mpsc::Sender<Event>,
    task: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
}

impl GrpcPeerLink {
    /// Opens (lazily, and again after failures) a stream to `invocation_url`,
    /// presenting this process's own token or certificate.
    pub fn connect(
        node_id: Uuid,
        invocation_url: &str,
    ) -> Result<Self, edgeless_api::client::InvalidUrl> {
        Self::connect_with(node_id, invocation_url, "")
    }

    /// Like [`GrpcPeerLink::connect`], presenting `credential` (a peer or
    /// relay credential its orchestrator made for the peer) instead of this
    /// process's token; empty: the token.
    pub fn connect_with(
        node_id: Uuid,
        invocation_url: &str,
        credential: &str,
    ) -> Result<Self, edgeless_api::client::InvalidUrl> {
        let channel = if credential.is_empty() {
            edgeless_api::client::stream_channel(invocation_url)?
        } else {
            edgeless_api::client::linked_stream_channel(invocation_url, credential)?
        };
        let (queue, rx) = mpsc::channel(PEER_QUEUE_CAPACITY);
        let url = invocation_url.to_string();
        let counters = Arc::<Counters>::default();
        let queued = (Arc::new(Mutex::new(rx)), counters.clone());
        let task = tokio::spawn(run_link(node_id, url, channel, queued));
        Ok(Self {
            node_id,
            queue,
            task,
            counters,
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
        self.queue.try_send(event).map_err(|_| {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            DeliveryError::PeerCongested(self.node_id)
        })
    }

    fn stats(&self) -> LinkStats {
        LinkStats {
            events: self.counters.events.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            queued: (self.queue.max_capacity() - self.queue.capacity()) as u64,
        }
    }
}

async fn run_link(
    node_id: Uuid,
    url: String,
    channel: edgeless_api::client::Channel,
    (queue, counters): (Arc<Mutex<mpsc::Receiver<Event>>>, Arc<Counters>),
) {
    let mut client = FunctionInvocationClient::new(channel);
    let mut backoff = Duration::from_millis(50);
    loop {
        // The stream (and the connection under it) is opened for the first
        // event, not before: a node told about every peer of its domain
        // connects only to those it sends to.
        let mut first = Vec::new();
        if queue.lock().await.recv_many(&mut first, MAX_BATCH).await == 0 {
            return;
        }
        let start = (queue.clone(), counters.clone(), VecDeque::from(first));
        let batches = futures::stream::unfold(start, |(queue, counters, mut waiting)| async move {
            if waiting.is_empty() {
                let mut events = Vec::new();
                if queue.lock().await.recv_many(&mut events, MAX_BATCH).await == 0 {
                    return None;
                }
                waiting.extend(events);
            }
            let batch = take_batch(&mut waiting);
            let bytes: usize = batch.events.iter().map(|e| e.payload.len()).sum();
            counters
                .events
                .fetch_add(batch.events.len() as u64, Ordering::Relaxed);
            counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            Some((batch, (queue, counters, waiting)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use edgeless_api::InstanceId;
    use edgeless_api::event::EventKind;

    fn event(bytes: usize) -> Event {
        Event {
            target: InstanceId::new(Uuid::new_v4()),
            source: InstanceId::new(Uuid::new_v4()),
            stream_id: 0,
            kind: EventKind::Cast,
            payload: vec![0u8; bytes].into(),
        }
    }

    #[test]
    fn batches_stay_below_the_peers_message_limit() {
        let mut waiting: VecDeque<Event> = (0..5).map(|_| event(crate::MAX_PAYLOAD)).collect();
        waiting.push_back(event(10));
        let mut sizes = Vec::new();
        while !waiting.is_empty() {
            let batch = take_batch(&mut waiting);
            let encoded = prost::Message::encoded_len(&batch);
            assert!(
                encoded < edgeless_api::limits::MAX_DATAPLANE_MESSAGE,
                "{encoded}"
            );
            sizes.push(batch.events.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 6, "nothing dropped");
        // Small events still travel many to a batch.
        let mut small: VecDeque<Event> = (0..100).map(|_| event(100)).collect();
        assert_eq!(take_batch(&mut small).events.len(), 100);
    }
}
