//! The node's routing table: local mailboxes and peer links.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use foldhash::fast::RandomState;

use edgeless_api::InstanceId;
use edgeless_api::event::{Event, EventKind};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::handle::{DataplaneHandle, EventSender};
use crate::{DeliveryError, MAILBOX_CAPACITY, PeerLink};

/// Calls of one instance still waiting for their reply, by stream id, with
/// the instance they were sent to (only it may reply).
pub(crate) type PendingCalls =
    Arc<Mutex<HashMap<u64, (InstanceId, oneshot::Sender<Event>), RandomState>>>;

/// The maps every event looks up (mailboxes, peers, a mailbox's inputs and
/// calls) hash with foldhash, seeded per process: SipHash was a twentieth
/// of a cross-node event's CPU. Their keys are ids this node created or
/// accepted, not ones a sender picks freely.
type FastMap<K, V> = HashMap<K, V, RandomState>;

struct Mailbox {
    events: mpsc::Sender<Event>,
    pending: PendingCalls,
    /// The instances mapped to this one: the only ones (besides itself)
    /// whose casts and calls it takes.
    inputs: HashSet<InstanceId, RandomState>,
}

struct Inner {
    node_id: Uuid,
    local: RwLock<FastMap<Uuid, Mailbox>>,
    peers: RwLock<FastMap<Uuid, Arc<dyn PeerLink>>>,
    /// The peers that are nodes of this node's domain (their orchestrator
    /// made peer credentials for them): their events come only over their
    /// own streams.
    domain_peers: RwLock<HashSet<Uuid, RandomState>>,
    /// Events and payload bytes received from each peer (counted per batch).
    received: Mutex<HashMap<Uuid, (u64, u64)>>,
}

/// The most peers whose received traffic is counted.
const MAX_COUNTED_PEERS: usize = 10_000;

/// The traffic with one peer so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// What this node sent it (zero when no link to it exists now).
    pub sent: crate::LinkStats,
    /// Events received from it.
    pub received_events: u64,
    /// Their payload bytes.
    pub received_bytes: u64,
}

/// The routing table of one node. Cheap to clone.
#[derive(Clone)]
pub struct Dataplane {
    inner: Arc<Inner>,
}

impl Dataplane {
    /// An empty dataplane for the node `node_id`.
    pub fn new(node_id: Uuid) -> Self {
        Self {
            inner: Arc::new(Inner {
                node_id,
                local: RwLock::default(),
                peers: RwLock::default(),
                domain_peers: RwLock::default(),
                received: Mutex::default(),
            }),
        }
    }

    /// The node this dataplane belongs to.
    pub fn node_id(&self) -> Uuid {
        self.inner.node_id
    }

    /// Creates the mailbox of a local instance. Events sent to `instance`
    /// from now on wait in the returned handle until read.
    pub fn register(&self, instance: InstanceId) -> DataplaneHandle {
        let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
        let pending = PendingCalls::default();
        let mailbox = Mailbox {
            events: tx,
            pending: pending.clone(),
            inputs: HashSet::default(),
        };
        write(&self.inner.local).insert(instance.function_id, mailbox);
        DataplaneHandle::new(rx, EventSender::new(self.clone(), instance, pending))
    }

    /// Sets the instances whose casts and calls a local instance takes (the
    /// sources its workflow maps to it); events from any other source are
    /// refused.
    pub fn set_inputs(&self, instance: Uuid, sources: impl IntoIterator<Item = InstanceId>) {
        if let Some(mailbox) = write(&self.inner.local).get_mut(&instance) {
            mailbox.inputs = sources.into_iter().collect();
        }
    }

    /// Lets a local instance take events from one more source.
    pub fn allow_input(&self, instance: Uuid, source: InstanceId) {
        if let Some(mailbox) = write(&self.inner.local).get_mut(&instance) {
            mailbox.inputs.insert(source);
        }
    }

    /// Removes a local instance's mailbox; later events to it are reported as
    /// undeliverable, and its unanswered calls fail.
    pub fn unregister(&self, instance: InstanceId) {
        write(&self.inner.local).remove(&instance.function_id);
    }

    /// Routes events for `node_id` through `link` (replacing any previous link).
    pub fn add_peer(&self, node_id: Uuid, link: Arc<dyn PeerLink>) {
        write(&self.inner.peers).insert(node_id, link);
    }

    /// Marks `node_id` as a node of this domain, or not.
    pub fn set_domain_peer(&self, node_id: Uuid, in_domain: bool) {
        let mut peers = write(&self.inner.domain_peers);
        if in_domain {
            peers.insert(node_id);
        } else {
            peers.remove(&node_id);
        }
    }

    /// Whether `node_id` is a node of this domain (see
    /// [`Dataplane::set_domain_peer`]).
    pub fn is_domain_peer(&self, node_id: Uuid) -> bool {
        read(&self.inner.domain_peers).contains(&node_id)
    }

    /// Forgets the link to `node_id`. Calls still waiting for a reply from
    /// that node fail at once instead of waiting for their deadline.
    pub fn remove_peer(&self, node_id: Uuid) {
        write(&self.inner.peers).remove(&node_id);
        for mailbox in read(&self.inner.local).values() {
            let mut pending = lock(&mailbox.pending);
            let gone: Vec<u64> = pending
                .iter()
                .filter(|(_, (target, _))| target.node_id == node_id)
                .map(|(id, _)| *id)
                .collect();
            for stream_id in gone {
                if let Some((_, waiter)) = pending.remove(&stream_id) {
                    let _ = waiter.send(Event {
                        target: InstanceId::none(),
                        source: InstanceId::none(),
                        stream_id,
                        kind: EventKind::Err,
                        payload: format!("node {node_id} left the domain").into(),
                    });
                }
            }
        }
    }

    /// Counts `events` events of `bytes` payload bytes received from
    /// `peer`.
    pub fn count_received(&self, peer: Uuid, events: u64, bytes: u64) {
        let mut received = lock(&self.inner.received);
        if received.len() >= MAX_COUNTED_PEERS && !received.contains_key(&peer) {
            return;
        }
        let entry = received.entry(peer).or_default();
        entry.0 += events;
        entry.1 += bytes;
    }

    /// The traffic with every peer that has a link or sent something.
    pub fn peer_stats(&self) -> HashMap<Uuid, PeerStats> {
        let mut stats: HashMap<Uuid, PeerStats> = read(&self.inner.peers)
            .iter()
            .map(|(id, link)| {
                let sent = link.stats();
                (
                    *id,
                    PeerStats {
                        sent,
                        ..PeerStats::default()
                    },
                )
            })
            .collect();
        for (id, (events, bytes)) in lock(&self.inner.received).iter() {
            let entry = stats.entry(*id).or_default();
            entry.received_events = *events;
            entry.received_bytes = *bytes;
        }
        stats
    }

    /// Forgets every peer.
    pub fn clear_peers(&self) {
        write(&self.inner.peers).clear();
    }

    /// Sends an event towards its target, locally or through a peer link.
    pub fn deliver(&self, event: Event) -> Result<(), DeliveryError> {
        self.route(event, false)
    }

    /// Delivers an event injected by an administrator (`edgeless_cli
    /// function invoke`): it needs no mapping from its source.
    pub fn inject(&self, event: Event) -> Result<(), DeliveryError> {
        self.route(event, true)
    }

    /// Sends an event to a local mailbox (where, unless `injected`, its
    /// source must be mapped to the target) or through a peer link.
    fn route(&self, event: Event, injected: bool) -> Result<(), DeliveryError> {
        if event.payload.len() > crate::MAX_PAYLOAD {
            return Err(DeliveryError::TooLarge(event.payload.len()));
        }
        if event.target.node_id == self.inner.node_id {
            return self.deliver_local(event, injected);
        }
        let link = read(&self.inner.peers).get(&event.target.node_id).cloned();
        match link {
            Some(link) => link.send(event),
            None => Err(DeliveryError::UnknownNode(event.target.node_id)),
        }
    }

    /// Delivers an event that arrived from a peer. What cannot be delivered is
    /// logged, and a call gets an error reply so its caller does not wait.
    pub fn deliver_from_peer(&self, event: Event) {
        let is_call = event.kind == EventKind::Call;
        let (source, target, stream_id) = (event.source, event.target, event.stream_id);
        if let Err(error) = self.deliver(event) {
            tracing::warn!(%source, %target, %error, "event from a peer not delivered");
            if is_call {
                let reply = Event {
                    target: source,
                    source: target,
                    stream_id,
                    kind: EventKind::Err,
                    payload: error.to_string().into(),
                };
                if let Err(error) = self.deliver(reply) {
                    tracing::warn!(%source, %error, "error reply not delivered");
                }
            }
        }
    }

    fn deliver_local(&self, event: Event, injected: bool) -> Result<(), DeliveryError> {
        let local = read(&self.inner.local);
        let Some(mailbox) = local.get(&event.target.function_id) else {
            return Err(DeliveryError::UnknownTarget(event.target));
        };
        if event.is_reply() {
            let mut pending = lock(&mailbox.pending);
            // Only the instance that was called may answer the call.
            let waiter = match pending.get(&event.stream_id) {
                Some((callee, _)) if *callee == event.source => pending.remove(&event.stream_id),
                _ => None,
            };
            drop(pending);
            match waiter {
                Some((_, waiter)) => {
                    // The caller may have given up (deadline); that is fine.
                    let _ = waiter.send(event);
                }
                None => tracing::debug!(
                    target_instance = %event.target,
                    source = %event.source,
                    stream_id = event.stream_id,
                    "reply to no pending call dropped"
                ),
            }
            return Ok(());
        }
        if !injected && event.source != event.target && !mailbox.inputs.contains(&event.source) {
            return Err(DeliveryError::NotMapped {
                sender: event.source,
                target: event.target,
            });
        }
        let target = event.target;
        mailbox.events.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => DeliveryError::MailboxFull(target),
            mpsc::error::TrySendError::Closed(_) => DeliveryError::UnknownTarget(target),
        })
    }
}

// The locks guard plain maps and are never held across an await; a poisoned
// lock only means another thread panicked mid-update of a map, which leaves
// the map itself valid.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}
