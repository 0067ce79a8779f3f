//! A small durable key-value store (redb) for the state the controller and
//! the orchestrator keep across restarts. A store opened without a data
//! directory keeps nothing: every write succeeds and every table reads empty.
//!
//! Values are protobuf messages; a value that no longer decodes is skipped
//! with a warning when read back, so one bad record never stops a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

/// A table of the store: string keys, byte values.
#[derive(Debug, Clone, Copy)]
pub struct Table(pub &'static str);

impl Table {
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.0)
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("state store {path}: {message}")]
pub struct StoreError {
    path: String,
    message: String,
}

/// The store of one component. Cheap to clone.
#[derive(Clone, Default)]
pub struct Store {
    db: Option<std::sync::Arc<redb::Database>>,
    path: PathBuf,
    /// Whether the file was there before it was opened.
    existed: bool,
}

impl Store {
    /// Whether the store was written by an earlier run: it keeps something
    /// and its file existed when it was opened.
    pub fn has_history(&self) -> bool {
        self.db.is_some() && self.existed
    }

    /// Opens (or creates) `data_dir/file`; an empty `data_dir` gives a store
    /// that keeps nothing.
    pub fn open(data_dir: &str, file: &str, tables: &[Table]) -> Result<Self, StoreError> {
        if data_dir.is_empty() {
            return Ok(Self::default());
        }
        let path = Path::new(data_dir).join(file);
        let error = |message: String| StoreError {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| error(format!("cannot create {data_dir}: {e}")))?;
        let existed = path.exists();
        let db = redb::Database::create(&path).map_err(|e| error(e.to_string()))?;
        let store = Self {
            db: Some(std::sync::Arc::new(db)),
            path,
            existed,
        };
        store.write(|txn| {
            for table in tables {
                txn.open_table(table.definition())?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// Whether writes are kept.
    pub fn is_durable(&self) -> bool {
        self.db.is_some()
    }

    fn error(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            message: error.to_string(),
        }
    }

    fn write(
        &self,
        change: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        let Some(db) = &self.db else { return Ok(()) };
        let txn = db.begin_write().map_err(|e| self.error(e))?;
        change(&txn).map_err(|e| self.error(e))?;
        txn.commit().map_err(|e| self.error(e))
    }

    /// Stores `value` under `key`, durably, replacing what was there.
    pub fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(table.definition())?.insert(key, value)?;
            Ok(())
        })
    }

    /// Stores several values in one transaction.
    pub fn put_all<'a>(
        &self,
        table: Table,
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(table.definition())?;
            for (key, value) in entries {
                table.insert(key, value)?;
            }
            Ok(())
        })
    }

    /// Removes `key`.
    pub fn delete(&self, table: Table, key: &str) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(table.definition())?.remove(key)?;
            Ok(())
        })
    }

    /// Every key and value of `table`.
    pub fn all(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let Some(db) = &self.db else {
            return Ok(Vec::new());
        };
        let txn = db.begin_read().map_err(|e| self.error(e))?;
        let table = txn
            .open_table(table.definition())
            .map_err(|e| self.error(e))?;
        let mut entries = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            entries.push((key.value().to_string(), value.value().to_vec()));
        }
        Ok(entries)
    }

    /// Every record of `table` decoded as `M`; undecodable ones are skipped
    /// with a warning.
    pub fn records<M: prost::Message + Default>(
        &self,
        table: Table,
    ) -> Result<Vec<(String, M)>, StoreError> {
        Ok(self
            .all(table)?
            .into_iter()
            .filter_map(|(key, bytes)| match M::decode(bytes.as_slice()) {
                Ok(record) => Some((key, record)),
                Err(error) => {
                    tracing::warn!(table = table.0, key, %error, "skipping an unreadable record");
                    None
                }
            })
            .collect())
    }
}

/// Function code kept once per content, however many records hold it: a
/// record keeps the code's key (its SHA-256, in hex) instead of the code.
/// Code equal to code kept before gets its key without being hashed again.
pub struct Codes {
    table: Table,
    /// Code stored (or queued) so far, by a cheap fingerprint.
    kept: std::sync::Mutex<HashMap<u64, Vec<(String, bytes::Bytes)>>>,
}

/// A cheap fingerprint of `code`: its length and both ends.
fn fingerprint(code: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let end = code.len().min(1024);
    (code.len(), &code[..end], &code[code.len() - end..]).hash(&mut hasher);
    hasher.finish()
}

impl Codes {
    /// The codes of `table`, none known yet (see [`Codes::load`]).
    pub fn new(table: Table) -> Self {
        Self {
            table,
            kept: Default::default(),
        }
    }

    /// The key of `code`.
    pub fn key(code: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(code)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<(String, bytes::Bytes)>>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `code` on `writer` unless the same code is kept already;
    /// returns its key.
    pub fn keep(&self, writer: &WriteBehind, code: &bytes::Bytes) -> String {
        let mut kept = self.kept();
        let same = kept.entry(fingerprint(code)).or_default();
        if let Some((key, _)) = same.iter().find(|(_, c)| c == code) {
            return key.clone();
        }
        let key = Self::key(code);
        writer.put(self.table, key.clone(), code.to_vec());
        same.push((key.clone(), code.clone()));
        key
    }

    /// Every code of the table, by key; those whose content does not match
    /// their key are left out (with a warning).
    pub fn load(&self, store: &Store) -> Result<HashMap<String, bytes::Bytes>, StoreError> {
        let mut codes = HashMap::new();
        let mut kept = self.kept();
        for (key, code) in store.all(self.table)? {
            if Self::key(&code) != key {
                tracing::warn!(
                    table = self.table.0,
                    key,
                    "skipping code that does not match its key"
                );
                continue;
            }
            let code = bytes::Bytes::from(code);
            let same = kept.entry(fingerprint(&code)).or_default();
            same.push((key.clone(), code.clone()));
            codes.insert(key, code);
        }
        Ok(codes)
    }

    /// Removes the codes no record uses any more (after a load).
    pub fn prune(&self, writer: &WriteBehind, used: &std::collections::HashSet<String>) {
        let mut kept = self.kept();
        for same in kept.values_mut() {
            same.retain(|(key, _)| {
                let keep = used.contains(key);
                if !keep {
                    writer.delete(self.table, key.clone());
                }
                keep
            });
        }
        kept.retain(|_, same| !same.is_empty());
    }
}

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
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let data_dir = data_dir.to_str().unwrap();
        {
            let store = Store::open(data_dir, "x.redb", &[T]).unwrap();
            assert!(store.all(T).unwrap().is_empty());
            store.put(T, "a", b"1").unwrap();
            store.put(T, "b", b"2").unwrap();
            store.put(T, "a", b"3").unwrap();
            store.delete(T, "b").unwrap();
        }
        let store = Store::open(data_dir, "x.redb", &[T]).unwrap();
        assert_eq!(
            store.all(T).unwrap(),
            vec![("a".to_string(), b"3".to_vec())]
        );
    }

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

    #[test]
    fn without_a_data_dir_nothing_is_kept() {
        let store = Store::open("", "x.redb", &[T]).unwrap();
        assert!(!store.is_durable());
        store.put(T, "a", b"1").unwrap();
        assert!(store.all(T).unwrap().is_empty());
    }

    #[test]
    fn unreadable_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap(), "x.redb", &[T]).unwrap();
        let good = crate::proto::WorkflowId {
            workflow_id: "w".into(),
        };
        store
            .put(T, "good", &prost::Message::encode_to_vec(&good))
            .unwrap();
        store.put(T, "bad", &[0xff, 0xff, 0xff]).unwrap();
        let records: Vec<(String, crate::proto::WorkflowId)> = store.records(T).unwrap();
        assert_eq!(records, vec![("good".to_string(), good)]);
    }

    #[test]
    fn an_unusable_data_dir_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let error = Store::open(file.to_str().unwrap(), "x.redb", &[T])
            .err()
            .unwrap();
        assert!(error.to_string().contains("cannot create"), "{error}");
    }
}
