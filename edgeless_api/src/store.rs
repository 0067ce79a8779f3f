//! A small durable key-value store (redb) for the state the controller and
//! the orchestrator keep across restarts. A store opened without a data
//! directory keeps nothing: every write succeeds and every table reads empty.
//!
//! Values are protobuf messages; a value that no longer decodes is skipped
//! with a warning when read back, so one bad record never stops a restart.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

mod codes;
mod write_behind;

pub use codes::Codes;
pub use write_behind::WriteBehind;

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
        // Workflows, code and function states: for this daemon's user only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| error(format!("cannot make it private (0600): {e}")))?;
        }
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

    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap();
        let path = dir.path().join("x.redb");
        let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        drop(Store::open(data_dir, "x.redb", &[T]).unwrap());
        assert_eq!(mode(), 0o600, "{:o}", mode());
        // One left readable by an earlier version is made private.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Store::open(data_dir, "x.redb", &[T]).unwrap());
        assert_eq!(mode(), 0o600, "{:o}", mode());
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
