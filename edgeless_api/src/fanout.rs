//! One `Logs` or `Events` stream made of several: an orchestrator merges its
//! nodes' streams, the controller its orchestrators'.
//!
//! The kept items of every source are collected (for at most
//! [`HISTORY_DEADLINE`]: a source that does not answer in time is left
//! out), sorted by time, cut to the requested tail and sent as the merged
//! history. When following, new items are forwarded as they come, and the
//! sources are listed again every [`DISCOVERY_PERIOD`]: a node that joined
//! (or an instance re-created on it) is followed too.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::SelectAll;
use tonic::Status;

use crate::feed::{Part, Source, history_parts, now_ms};

/// How long the kept items of all sources are waited for.
pub const HISTORY_DEADLINE: Duration = Duration::from_secs(3);
/// How often a followed stream looks for new sources.
pub const DISCOVERY_PERIOD: Duration = Duration::from_secs(1);

/// Where the streams to merge come from.
pub trait Sources<P: Part>: Send + 'static {
    /// The keys of the sources there are now (e.g. node ids).
    fn keys(&mut self) -> impl Future<Output = Vec<String>> + Send;
    /// Opens source `key` for the items recorded at or after `since_unix_ms`
    /// (0: every kept item), following when `follow`.
    fn open(&mut self, key: &str, since_unix_ms: u64, follow: bool) -> Source<P>;
}

/// What the merged stream sends.
#[derive(Clone, Copy, Debug, Default)]
pub struct Merge {
    /// Only items recorded at or after this time (0: all kept).
    pub since_unix_ms: u64,
    /// Only the last N kept items (0: all).
    pub tail: usize,
    /// Keep going with new items.
    pub follow: bool,
}

/// A source from a streaming call to another component: its parts, or
/// the call's error.
pub fn remote<P, F>(call: F) -> Source<P>
where
    P: Part,
    F: Future<Output = Result<tonic::Response<tonic::Streaming<P>>, Status>> + Send + 'static,
{
    Box::pin(
        futures::stream::once(call)
            .map(|response| match response {
                Ok(response) => response.into_inner().boxed(),
                Err(status) => futures::stream::once(std::future::ready(Err(status))).boxed(),
            })
            .flatten(),
    )
}

impl From<&crate::proto::LogsRequest> for Merge {
    fn from(request: &crate::proto::LogsRequest) -> Self {
        Self {
            since_unix_ms: request.since_unix_ms,
            tail: request.tail as usize,
            follow: request.follow,
        }
    }
}

impl From<&crate::proto::EventsRequest> for Merge {
    fn from(request: &crate::proto::EventsRequest) -> Self {
        Self {
            since_unix_ms: 0,
            tail: request.tail as usize,
            follow: request.follow,
        }
    }
}

/// `request` as one of its sources is asked it: from `since` (when later
/// than asked), following or not; a source found while following sends
/// everything since, not just a tail.
pub fn logs_from(
    request: &crate::proto::LogsRequest,
    since: u64,
    follow: bool,
) -> crate::proto::LogsRequest {
    crate::proto::LogsRequest {
        since_unix_ms: since.max(request.since_unix_ms),
        follow,
        tail: if since > request.since_unix_ms {
            0
        } else {
            request.tail
        },
        ..request.clone()
    }
}

/// A source's parts tagged with its key, and `None` when it ended.
type Tagged<P> = (String, Option<Result<P, Status>>);

fn tagged<P: Part>(
    key: String,
    source: Source<P>,
) -> futures::stream::BoxStream<'static, Tagged<P>> {
    let end = futures::stream::once(std::future::ready((key.clone(), None)));
    Box::pin(source.map(move |item| (key.clone(), Some(item))).chain(end))
}

/// The merged stream of `sources`.
pub fn merge<P: Part, S: Sources<P>>(mut sources: S, merge: Merge) -> Source<P> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<P, Status>>(16);
    tokio::spawn(async move {
        let mut open = SelectAll::new();
        let mut known = HashSet::new();
        for key in sources.keys().await {
            open.push(tagged(
                key.clone(),
                sources.open(&key, merge.since_unix_ms, merge.follow),
            ));
            known.insert(key);
        }
        let mut history = Vec::new();
        let mut caught_up = HashSet::new();
        let deadline = tokio::time::sleep(HISTORY_DEADLINE);
        tokio::pin!(deadline);
        while caught_up.len() < known.len() {
            tokio::select! {
                next = open.next() => match next {
                    None => break,
                    Some((key, Some(Ok(part)))) => {
                        let (items, done) = part.into_parts();
                        history.extend(items);
                        if done {
                            caught_up.insert(key);
                        }
                    }
                    Some((key, ended)) => {
                        if let Some(Err(status)) = ended {
                            tracing::debug!(source = %key, error = %status.message(), "a source failed");
                        }
                        caught_up.insert(key);
                    }
                },
                () = &mut deadline => {
                    tracing::debug!(missing = known.len() - caught_up.len(), "sources too slow for the history");
                    break;
                }
                () = sender.closed() => return,
            }
        }
        history.sort_by_key(P::time);
        for part in history_parts::<P>(history, merge.tail) {
            if sender.send(Ok(part)).await.is_err() {
                return;
            }
        }
        if merge.follow {
            follow(sources, (open, known), sender).await;
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

/// Forwards new items until the receiver goes; looks for new sources
/// every [`DISCOVERY_PERIOD`].
async fn follow<P: Part, S: Sources<P>>(
    mut sources: S,
    (mut open, mut known): (
        SelectAll<futures::stream::BoxStream<'static, Tagged<P>>>,
        HashSet<String>,
    ),
    sender: tokio::sync::mpsc::Sender<Result<P, Status>>,
) {
    let mut discovery = tokio::time::interval(DISCOVERY_PERIOD);
    discovery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut looked = now_ms();
    loop {
        tokio::select! {
            Some((key, next)) = open.next() => match next {
                Some(Ok(part)) => {
                    let (items, _) = part.into_parts();
                    if !items.is_empty() && sender.send(Ok(P::from_parts(items, false))).await.is_err() {
                        return;
                    }
                }
                // An ended source is opened again when it is listed again.
                ended => {
                    if let Some(Err(status)) = ended {
                        tracing::debug!(source = %key, error = %status.message(), "a followed source failed");
                    }
                    known.remove(&key);
                }
            },
            _ = discovery.tick() => {
                let since = looked;
                looked = now_ms();
                for key in sources.keys().await {
                    if known.insert(key.clone()) {
                        open.push(tagged(key.clone(), sources.open(&key, since, true)));
                    }
                }
            }
            () = sender.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::feed::{EventJournal, Happened};
    use crate::proto;

    /// Journals by key; the listed keys can change.
    #[derive(Clone, Default)]
    struct Journals(Arc<Mutex<Vec<(String, EventJournal)>>>);

    impl Journals {
        fn add(&self, key: &str) -> EventJournal {
            let journal = EventJournal::new(100);
            self.0.lock().unwrap().push((key.into(), journal.clone()));
            journal
        }
    }

    impl Sources<proto::ClusterEvents> for Journals {
        async fn keys(&mut self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|(k, _)| k.clone())
                .collect()
        }
        fn open(&mut self, key: &str, since: u64, follow: bool) -> Source<proto::ClusterEvents> {
            let journals = self.0.lock().unwrap();
            let journal = &journals.iter().find(|(k, _)| k == key).unwrap().1;
            let stream = journal.events(&proto::EventsRequest {
                follow,
                ..Default::default()
            });
            Box::pin(stream.map(move |part| {
                part.map(|mut p| {
                    p.events.retain(|e| e.unix_ms >= since);
                    p
                })
            }))
        }
    }

    fn record(journal: &EventJournal, kind: &str) {
        journal.record(
            Happened {
                kind,
                workflow_id: "",
                component: "",
                node_id: "",
                message: String::new(),
            }
            .at("t"),
        );
        std::thread::sleep(Duration::from_millis(2));
    }

    #[tokio::test]
    async fn histories_are_merged_in_time_order_and_new_sources_are_followed() {
        let journals = Journals::default();
        let a = journals.add("a");
        let b = journals.add("b");
        record(&a, "a1");
        record(&b, "b1");
        record(&a, "a2");
        let mut merged = merge(
            journals.clone(),
            Merge {
                tail: 2,
                follow: true,
                ..Default::default()
            },
        );
        let first = merged.next().await.unwrap().unwrap();
        let kinds: Vec<_> = first.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["b1", "a2"]);
        assert!(first.caught_up);
        record(&b, "b2");
        assert_eq!(merged.next().await.unwrap().unwrap().events[0].kind, "b2");
        // A source listed later is found and followed.
        let c = journals.add("c");
        record(&c, "c1");
        let next = tokio::time::timeout(Duration::from_secs(5), merged.next())
            .await
            .expect("the new source is followed")
            .unwrap()
            .unwrap();
        assert_eq!(next.events[0].kind, "c1");
    }

    #[tokio::test]
    async fn a_silent_source_delays_the_history_only_until_the_deadline() {
        struct Silent;
        impl Sources<proto::ClusterEvents> for Silent {
            async fn keys(&mut self) -> Vec<String> {
                vec!["silent".into()]
            }
            fn open(&mut self, _: &str, _: u64, _: bool) -> Source<proto::ClusterEvents> {
                Box::pin(futures::stream::pending())
            }
        }
        let started = std::time::Instant::now();
        let mut merged = merge(Silent, Merge::default());
        let first = merged.next().await.unwrap().unwrap();
        assert!(first.caught_up && first.events.is_empty());
        assert!(started.elapsed() < HISTORY_DEADLINE + Duration::from_secs(2));
    }
}
