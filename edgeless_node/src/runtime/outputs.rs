//! An instance's output mapping: channel name → target instances.
//!
//! Until the first patch arrives the mapping is unknown, and an instance that
//! sends on a channel waits for it (up to a deadline) rather than losing the
//! event; this is what lets functions cast from `handle_init`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use edgeless_api::InstanceId;
use tokio::sync::watch;

type Mapping = Option<Arc<HashMap<String, Vec<InstanceId>>>>;

/// The writing side, held by the agent, which applies patches.
pub struct OutputMapping {
    tx: watch::Sender<Mapping>,
}

/// The reading side, held by the instance.
pub struct OutputTable {
    rx: watch::Receiver<Mapping>,
    next: AtomicUsize,
}

/// A new mapping, not yet known.
pub fn output_mapping() -> (OutputMapping, OutputTable) {
    let (tx, rx) = watch::channel(None);
    (
        OutputMapping { tx },
        OutputTable {
            rx,
            next: AtomicUsize::new(0),
        },
    )
}

impl OutputMapping {
    /// Replaces the whole mapping.
    pub fn patch(&self, mapping: HashMap<String, Vec<InstanceId>>) {
        self.tx.send_replace(Some(Arc::new(mapping)));
    }
}

/// Why an output could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    /// The channel is not mapped.
    #[error("output `{0}` is not mapped")]
    Unmapped(String),
    /// No mapping arrived in time.
    #[error("no output mapping received within {0:?}")]
    NoMapping(Duration),
}

impl OutputTable {
    /// The instance that should receive the next event on `output`. With
    /// several targets (a scaled function) they take turns.
    pub async fn resolve(&self, output: &str, wait: Duration) -> Result<InstanceId, ResolveError> {
        let mut rx = self.rx.clone();
        let mapping = match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
            Ok(Ok(mapping)) => mapping.clone(),
            _ => return Err(ResolveError::NoMapping(wait)),
        };
        let targets = mapping
            .as_ref()
            .and_then(|m| m.get(output))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ResolveError::Unmapped(output.to_string()))?;
        let turn = if targets.len() == 1 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed) % targets.len()
        };
        Ok(targets[turn])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[tokio::test]
    async fn waits_for_the_first_patch() {
        let (mapping, table) = output_mapping();
        let target = InstanceId::new(Uuid::new_v4());
        let patcher = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            mapping.patch(HashMap::from([("out".to_string(), vec![target])]));
            mapping
        });
        let got = table.resolve("out", Duration::from_secs(5)).await;
        assert_eq!(got, Ok(target));
        let _mapping = patcher.await.unwrap();
        assert_eq!(
            table.resolve("other", Duration::from_secs(5)).await,
            Err(ResolveError::Unmapped("other".into()))
        );
    }

    #[tokio::test]
    async fn gives_up_without_a_mapping() {
        let (_mapping, table) = output_mapping();
        let wait = Duration::from_millis(10);
        assert_eq!(
            table.resolve("out", wait).await,
            Err(ResolveError::NoMapping(wait))
        );
    }

    #[tokio::test]
    async fn spreads_events_over_several_targets() {
        let (mapping, table) = output_mapping();
        let a = InstanceId::new(Uuid::new_v4());
        let b = InstanceId::new(Uuid::new_v4());
        mapping.patch(HashMap::from([("out".to_string(), vec![a, b])]));
        let wait = Duration::from_secs(1);
        let picks = [
            table.resolve("out", wait).await.unwrap(),
            table.resolve("out", wait).await.unwrap(),
            table.resolve("out", wait).await.unwrap(),
        ];
        assert_eq!(picks, [a, b, a]);
    }
}
