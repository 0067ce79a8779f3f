//! Writing to a [`Store`] without waiting for the disk.

use super::{Store, Table};

/// One change queued for a [`WriteBehind`].
enum Change {
    Put(Table, String, Vec<u8>),
    Delete(Table, String),
    /// Answered once every change queued before it is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Writes to a [`Store`] from a thread of its own, so that a daemon's task
/// never waits for the disk: changes queued while a commit runs go together
/// into the next transaction (one sync to disk for many changes). A change
/// is durable shortly after it is queued, in the order queued; a failed
/// commit is logged with the number of changes it lost. Cheap to clone;
/// when the last clone is dropped, what is queued is committed and the
/// store closed before the drop returns.
#[derive(Clone, Default)]
pub struct WriteBehind {
    writer: Option<std::sync::Arc<Writer>>,
}

struct Writer {
    changes: Option<std::sync::mpsc::Sender<Change>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The thread ends once the queue is closed and emptied.
        self.changes.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl WriteBehind {
    /// Starts the writer of `store` (of a store that keeps nothing: no
    /// thread, every change is dropped).
    pub fn new(store: Store) -> Self {
        if !store.is_durable() {
            return Self::default();
        }
        let (changes, queued) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_batches(&store, &queued));
        match spawned {
            Ok(thread) => Self {
                writer: Some(std::sync::Arc::new(Writer {
                    changes: Some(changes),
                    thread: Some(thread),
                })),
            },
            Err(error) => {
                tracing::error!(%error, "no store writer thread: changes are not kept");
                Self::default()
            }
        }
    }

    fn queue(&self, change: Change) {
        if let Some(changes) = self.writer.as_ref().and_then(|w| w.changes.as_ref()) {
            // Fails only when the writer thread is gone (it logged why).
            let _ = changes.send(change);
        }
    }

    /// Queues storing `value` under `key`.
    pub fn put(&self, table: Table, key: String, value: Vec<u8>) {
        self.queue(Change::Put(table, key, value));
    }

    /// Queues removing `key`.
    pub fn delete(&self, table: Table, key: String) {
        self.queue(Change::Delete(table, key));
    }

    /// Waits (blocking) until every change queued before is committed.
    pub fn flush(&self) {
        if self.writer.is_none() {
            return;
        }
        let (done, committed) = std::sync::mpsc::channel();
        self.queue(Change::Flush(done));
        let _ = committed.recv();
    }
}

/// How long the writer collects changes after the first before committing.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// The writer thread: commits what is queued, as many changes per
/// transaction as have queued up, until every sender is gone.
fn write_batches(store: &Store, queued: &std::sync::mpsc::Receiver<Change>) {
    while let Ok(first) = queued.recv() {
        // Changes rarely come alone (a workflow's components, a node's
        // states): a moment's wait lets them share one commit.
        let mut batch = vec![first];
        let until = std::time::Instant::now() + BATCH_WINDOW;
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match queued.recv_timeout(left) {
                Ok(change) => batch.push(change),
                Err(_) => break,
            }
        }
        let mut flushes = Vec::new();
        let mut changed = 0;
        let result = store.write(|txn| {
            for change in batch {
                match change {
                    Change::Put(table, key, value) => {
                        txn.open_table(table.definition())?
                            .insert(key.as_str(), value.as_slice())?;
                    }
                    Change::Delete(table, key) => {
                        txn.open_table(table.definition())?.remove(key.as_str())?;
                    }
                    Change::Flush(done) => {
                        flushes.push(done);
                        continue;
                    }
                }
                changed += 1;
            }
            Ok(())
        });
        if let Err(error) = result {
            tracing::error!(%error, changes = changed, "changes not saved; they are lost if the daemon restarts");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table("t");

    #[test]
    fn changes_written_behind_are_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap();
        {
            let store = Store::open(data_dir, "x.redb", &[T]).unwrap();
            let writer = WriteBehind::new(store);
            for i in 0..1000 {
                writer.put(T, format!("k{i}"), vec![1]);
            }
            writer.put(T, "k1".into(), vec![2]);
            writer.delete(T, "k2".into());
            writer.flush();
        }
        let store = Store::open(data_dir, "x.redb", &[T]).unwrap();
        let all = store.all(T).unwrap();
        assert_eq!(all.len(), 999);
        assert!(all.contains(&("k1".to_string(), vec![2])));
        assert!(!all.iter().any(|(k, _)| k == "k2"));
    }
}
