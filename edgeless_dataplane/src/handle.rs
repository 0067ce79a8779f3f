//! What an instance holds: its mailbox and a sender for its own events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_api::event::{Event, EventKind};
use tokio::sync::{mpsc, oneshot};

use crate::router::{PendingCalls, lock};
use crate::{Dataplane, DeliveryError};

/// The answer to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The callee replied with bytes.
    Reply(Bytes),
    /// The callee handled the call without a reply.
    NoReply,
    /// The call failed; the text says why.
    Err(String),
}

/// Sends events on behalf of one instance. Cheap to clone.
#[derive(Clone)]
pub struct EventSender {
    dataplane: Dataplane,
    slf: InstanceId,
    pending: PendingCalls,
    next_stream_id: Arc<AtomicU64>,
}

impl EventSender {
    pub(crate) fn new(dataplane: Dataplane, slf: InstanceId, pending: PendingCalls) -> Self {
        Self {
            dataplane,
            slf,
            pending,
            next_stream_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The instance this sender speaks for.
    pub fn instance_id(&self) -> InstanceId {
        self.slf
    }

    /// Sends a one-way message.
    pub fn cast(&self, target: InstanceId, payload: Bytes) -> Result<(), DeliveryError> {
        self.dataplane.deliver(Event {
            target,
            source: self.slf,
            stream_id: 0,
            kind: EventKind::Cast,
            payload,
        })
    }

    /// Calls `target` and waits at most `deadline` for the answer.
    pub async fn call(
        &self,
        target: InstanceId,
        payload: Bytes,
        deadline: Duration,
    ) -> CallOutcome {
        let stream_id = self.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if pending.len() >= crate::MAX_PENDING_CALLS {
                return CallOutcome::Err(format!(
                    "{} calls of this instance wait for replies already",
                    crate::MAX_PENDING_CALLS
                ));
            }
            pending.insert(stream_id, (target, tx));
        }
        let sent = self.dataplane.deliver(Event {
            target,
            source: self.slf,
            stream_id,
            kind: EventKind::Call,
            payload,
        });
        if let Err(error) = sent {
            lock(&self.pending).remove(&stream_id);
            return CallOutcome::Err(error.to_string());
        }
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(reply)) => match reply.kind {
                EventKind::CallRet => CallOutcome::Reply(reply.payload),
                EventKind::CallNoRet => CallOutcome::NoReply,
                _ => CallOutcome::Err(String::from_utf8_lossy(&reply.payload).into_owned()),
            },
            Ok(Err(_)) => CallOutcome::Err("the caller was stopped".to_string()),
            Err(_) => {
                lock(&self.pending).remove(&stream_id);
                CallOutcome::Err(format!("no reply from {target} within {deadline:?}"))
            }
        }
    }

    /// Answers the call `call` (an event this instance received).
    pub fn reply(&self, call: &Event, outcome: CallOutcome) -> Result<(), DeliveryError> {
        let (kind, payload) = match outcome {
            CallOutcome::Reply(bytes) => (EventKind::CallRet, bytes),
            CallOutcome::NoReply => (EventKind::CallNoRet, Bytes::new()),
            CallOutcome::Err(text) => (EventKind::Err, Bytes::from(text)),
        };
        self.dataplane.deliver(Event {
            target: call.source,
            source: self.slf,
            stream_id: call.stream_id,
            kind,
            payload,
        })
    }
}

/// A registered instance's end of the dataplane.
pub struct DataplaneHandle {
    mailbox: mpsc::Receiver<Event>,
    sender: EventSender,
}

impl DataplaneHandle {
    pub(crate) fn new(mailbox: mpsc::Receiver<Event>, sender: EventSender) -> Self {
        Self { mailbox, sender }
    }

    /// The next cast or call for this instance; `None` once unregistered.
    pub async fn receive_next(&mut self) -> Option<Event> {
        self.mailbox.recv().await
    }

    /// A sender for this instance's own events.
    pub fn sender(&self) -> &EventSender {
        &self.sender
    }
}
