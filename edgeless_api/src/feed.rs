//! Streams of recorded items (function log lines, cluster events) as the
//! `Logs` and `Events` RPCs send them: first the kept items, oldest first,
//! ending with a part marked `caught_up`; then, when following, new items
//! as they are recorded.
//!
//! A [`Journal`] keeps the most recent items of one kind in a bounded ring
//! and announces new ones; [`replay`] turns a snapshot plus the
//! announcements into such a stream, without losing or repeating an item
//! recorded while the snapshot is taken.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use tokio::sync::broadcast;
use tonic::Status;

use crate::proto;

/// A message of a `Logs` or `Events` stream: some items and whether the
/// kept ones end with it.
pub trait Part: Send + 'static {
    /// One log line or event.
    type Item: Clone + Send + Sync + 'static;
    /// The items and the `caught_up` flag.
    fn into_parts(self) -> (Vec<Self::Item>, bool);
    /// A part of `items`.
    fn from_parts(items: Vec<Self::Item>, caught_up: bool) -> Self;
    /// When `item` was recorded (milliseconds since the Unix epoch).
    fn time(item: &Self::Item) -> u64;
}

impl Part for proto::LogLines {
    type Item = proto::LogLine;
    fn into_parts(self) -> (Vec<Self::Item>, bool) {
        (self.lines, self.caught_up)
    }
    fn from_parts(lines: Vec<Self::Item>, caught_up: bool) -> Self {
        Self { lines, caught_up }
    }
    fn time(item: &Self::Item) -> u64 {
        item.unix_ms
    }
}

impl Part for proto::ClusterEvents {
    type Item = proto::ClusterEvent;
    fn into_parts(self) -> (Vec<Self::Item>, bool) {
        (self.events, self.caught_up)
    }
    fn from_parts(events: Vec<Self::Item>, caught_up: bool) -> Self {
        Self { events, caught_up }
    }
    fn time(item: &Self::Item) -> u64 {
        item.unix_ms
    }
}

/// A stream of parts, as a server sends it and a client reads it.
pub type Source<P> = BoxStream<'static, Result<P, Status>>;

/// The most items one part carries.
pub const PART_ITEMS: usize = 500;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An item with its sequence number (unique and rising within its
/// journal or log book).
pub type Numbered<T> = (u64, Arc<T>);

/// The last `tail` items of `items` (all when 0), as parts of at most
/// [`PART_ITEMS`], the last one marked `caught_up`.
pub fn history_parts<P: Part>(mut items: Vec<P::Item>, tail: usize) -> Vec<P> {
    if tail > 0 && items.len() > tail {
        items.drain(..items.len() - tail);
    }
    let mut parts = Vec::new();
    let mut rest = items.into_iter().peekable();
    loop {
        let chunk: Vec<_> = rest.by_ref().take(PART_ITEMS).collect();
        let last = rest.peek().is_none();
        parts.push(P::from_parts(chunk, last));
        if last {
            return parts;
        }
    }
}

/// A stream of `snapshot` (already filtered and in order; the last `tail`
/// of it) and, when `follow`, of the announced items that `keep` accepts
/// and that are newer than the snapshot. Subscribe `live` before taking
/// the snapshot: items announced in between are then sent exactly once.
pub fn replay<P: Part>(
    snapshot: Vec<Numbered<P::Item>>,
    mut live: broadcast::Receiver<Numbered<P::Item>>,
    keep: impl Fn(&P::Item) -> bool + Send + 'static,
    (tail, follow): (usize, bool),
) -> Source<P> {
    let seen = snapshot.iter().map(|(seq, _)| *seq).max();
    let items = snapshot
        .into_iter()
        .map(|(_, item)| (*item).clone())
        .collect();
    let history = futures::stream::iter(history_parts::<P>(items, tail).into_iter().map(Ok));
    if !follow {
        return Box::pin(history);
    }
    let fresh = async_stream_from(move |sender| async move {
        loop {
            match live.recv().await {
                Ok((seq, item)) => {
                    if seen.is_some_and(|s| seq <= s) || !keep(&item) {
                        continue;
                    }
                    let part = P::from_parts(vec![(*item).clone()], false);
                    if sender.send(Ok(part)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a follower fell behind; items skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Box::pin(futures::StreamExt::chain(history, fresh))
}

/// A stream fed by the task `produce`, which ends when the stream is
/// dropped (its sends fail).
fn async_stream_from<T, F, Fut>(produce: F) -> BoxStream<'static, T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let task = produce(sender.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = task => {}
            () = sender.closed() => {}
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

/// The most recent items of one kind, at most `capacity`, with
/// announcements of new ones. Cheap to clone.
pub struct Journal<T> {
    ring: Arc<Mutex<(VecDeque<Numbered<T>>, u64)>>,
    live: broadcast::Sender<Numbered<T>>,
    capacity: usize,
}

impl<T> Clone for Journal<T> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            live: self.live.clone(),
            capacity: self.capacity,
        }
    }
}

impl<T: Send + Sync + 'static> Journal<T> {
    /// An empty journal keeping at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Arc::default(),
            live: broadcast::channel(1024).0,
            capacity: capacity.max(1),
        }
    }

    /// Records `item`, dropping the oldest beyond the capacity.
    pub fn record(&self, item: T) {
        let mut guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let (ring, next) = &mut *guard;
        *next += 1;
        let numbered = (*next, Arc::new(item));
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(numbered.clone());
        // Nobody following is fine.
        let _ = self.live.send(numbered);
    }

    /// A subscription to new items and the kept ones that `keep` accepts
    /// (subscribed first, see [`replay`]).
    pub fn snapshot(
        &self,
        keep: impl Fn(&T) -> bool,
    ) -> (Vec<Numbered<T>>, broadcast::Receiver<Numbered<T>>) {
        let live = self.live.subscribe();
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let kept = ring.0.iter().filter(|(_, i)| keep(i)).cloned().collect();
        (kept, live)
    }

    /// How many items it keeps now.
    pub fn len(&self) -> usize {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    /// Whether it keeps none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The cluster events a controller or an orchestrator recorded.
pub type EventJournal = Journal<proto::ClusterEvent>;

/// How many events a controller or an orchestrator keeps.
pub const KEPT_EVENTS: usize = 2000;

impl Journal<proto::ClusterEvent> {
    /// The stream an `Events` request asks for.
    pub fn events(&self, request: &proto::EventsRequest) -> Source<proto::ClusterEvents> {
        let workflow = request.workflow_id.clone();
        let keep = move |e: &proto::ClusterEvent| workflow.is_empty() || e.workflow_id == workflow;
        let (kept, live) = self.snapshot(&keep);
        replay(kept, live, keep, (request.tail as usize, request.follow))
    }
}

/// What happened, for [`Journal::record`]: `kind`, the workflow and
/// component concerned (or empty), the node (or empty) and details.
pub struct Happened<'a> {
    /// E.g. `workflow-started`, `node-lost`.
    pub kind: &'a str,
    /// The workflow concerned, or empty.
    pub workflow_id: &'a str,
    /// The component concerned (name or logical id), or empty.
    pub component: &'a str,
    /// The node concerned, or empty.
    pub node_id: &'a str,
    /// Details, e.g. a reason.
    pub message: String,
}

impl Happened<'_> {
    /// The event, recorded now by `source`.
    pub fn at(self, source: &str) -> proto::ClusterEvent {
        proto::ClusterEvent {
            unix_ms: now_ms(),
            source: source.to_string(),
            kind: self.kind.to_string(),
            workflow_id: self.workflow_id.to_string(),
            component: self.component.to_string(),
            node_id: self.node_id.to_string(),
            message: self.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn event(kind: &str, workflow: &str) -> proto::ClusterEvent {
        Happened {
            kind,
            workflow_id: workflow,
            component: "",
            node_id: "",
            message: String::new(),
        }
        .at("test")
    }

    #[test]
    fn a_journal_keeps_its_capacity() {
        let journal = EventJournal::new(3);
        for i in 0..5 {
            journal.record(event(&format!("k{i}"), ""));
        }
        let (kept, _) = journal.snapshot(|_| true);
        let kinds: Vec<_> = kept.iter().map(|(_, e)| e.kind.clone()).collect();
        assert_eq!(kinds, ["k2", "k3", "k4"]);
    }

    #[tokio::test]
    async fn history_is_filtered_and_cut_to_the_tail_then_new_events_follow() {
        let journal = EventJournal::new(100);
        for i in 0..10 {
            journal.record(event(&format!("a{i}"), if i % 2 == 0 { "w" } else { "x" }));
        }
        let request = proto::EventsRequest {
            workflow_id: "w".into(),
            tail: 2,
            follow: true,
        };
        let mut stream = journal.events(&request);
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.caught_up);
        let kinds: Vec<_> = first.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["a6", "a8"]);
        journal.record(event("other", "x"));
        journal.record(event("new", "w"));
        let next = stream.next().await.unwrap().unwrap();
        assert_eq!(next.events[0].kind, "new");
    }

    #[tokio::test]
    async fn without_follow_the_stream_ends_after_the_history() {
        let journal = EventJournal::new(10);
        journal.record(event("a", ""));
        let parts: Vec<_> = journal
            .events(&proto::EventsRequest::default())
            .collect()
            .await;
        assert_eq!(parts.len(), 1);
        assert!(parts[0].as_ref().unwrap().caught_up);
    }

    #[test]
    fn long_histories_are_sent_in_bounded_parts() {
        let items: Vec<_> = (0..1200).map(|_| event("e", "")).collect();
        let parts = history_parts::<proto::ClusterEvents>(items, 0);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.events.len() <= PART_ITEMS));
        assert!(parts[2].caught_up && !parts[0].caught_up);
    }
}
