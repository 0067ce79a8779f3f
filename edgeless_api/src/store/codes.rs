//! Function code kept once per content in a table of a [`Store`].

use std::collections::{HashMap, HashSet};

use super::{Store, StoreError, Table, WriteBehind};

/// Function code kept once per content, however many records hold it: a
/// record keeps the code's key (its SHA-256, in hex) instead of the code.
/// Code equal to code kept before gets its key without being hashed again.
pub struct Codes {
    table: Table,
    /// Code stored (or queued) so far, by a cheap fingerprint.
    kept: std::sync::Mutex<HashMap<u64, Vec<(String, bytes::Bytes)>>>,
    /// The keys of that code.
    keys: std::sync::Mutex<HashSet<String>>,
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
            keys: Default::default(),
        }
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
        let key = crate::code_table::key(code);
        writer.put(self.table, key.clone(), code.to_vec());
        same.push((key.clone(), code.clone()));
        self.keys().insert(key.clone());
        key
    }

    /// [`Codes::keep`] for code whose key the caller knows (checked by
    /// [`crate::code_table::unpack`]): code kept under that key before is
    /// neither compared nor hashed again.
    pub fn keep_keyed(&self, writer: &WriteBehind, key: &str, code: &bytes::Bytes) -> String {
        if !key.is_empty() && self.keys().contains(key) {
            return key.to_string();
        }
        self.keep(writer, code)
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every code of the table, by key; those whose content does not match
    /// their key are left out (with a warning).
    pub fn load(&self, store: &Store) -> Result<HashMap<String, bytes::Bytes>, StoreError> {
        let mut codes = HashMap::new();
        let mut kept = self.kept();
        for (key, code) in store.all(self.table)? {
            if crate::code_table::key(&code) != key {
                tracing::warn!(
                    table = self.table.0,
                    key,
                    "skipping code that does not match its key"
                );
                continue;
            }
            let code = bytes::Bytes::from(code);
            self.keys().insert(key.clone());
            let same = kept.entry(fingerprint(&code)).or_default();
            same.push((key.clone(), code.clone()));
            codes.insert(key, code);
        }
        Ok(codes)
    }

    /// Removes the codes no record uses any more (after a load).
    pub fn prune(&self, writer: &WriteBehind, used: &HashSet<String>) {
        let mut kept = self.kept();
        for same in kept.values_mut() {
            same.retain(|(key, _)| {
                let keep = used.contains(key);
                if !keep {
                    writer.delete(self.table, key.clone());
                    self.keys().remove(key);
                }
                keep
            });
        }
        kept.retain(|_, same| !same.is_empty());
    }
}
