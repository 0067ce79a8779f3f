//! Bearer tokens: the tokens file (`[[token]]` entries with a name, a role,
//! a tenant and the token's SHA-256, never the token itself) and the store
//! a daemon checks callers against. The store reads the file again when it
//! changes, so tokens created or revoked take effect without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Identity, Role};

/// The largest tokens file a daemon reads.
pub const MAX_TOKENS_FILE: u64 = 4 << 20;
/// How often the store looks whether its file changed.
const RECHECK: Duration = Duration::from_secs(1);

/// One token of a tokens file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it (unique in the file).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The tenant of its workflows.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The token's SHA-256, hex.
    pub sha256: String,
}

fn default_tenant() -> String {
    super::DEFAULT_TENANT.to_string()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// A tokens file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TokensFileError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// A new random token (256 bits, hex, with an `edgeless_` prefix that makes
/// it easy to find in leaked text).
pub fn new_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    format!("edgeless_{}", hex(&bytes))
}

/// The hex SHA-256 of a token, as stored in tokens files.
pub fn hash_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a tokens file's entries; a missing file has none.
pub fn read_entries(path: &Path) -> Result<Vec<TokenEntry>, TokensFileError> {
    let error = |reason: String| TokensFileError {
        path: path.display().to_string(),
        reason,
    };
    let text = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_TOKENS_FILE => {
            return Err(error(format!("is larger than {MAX_TOKENS_FILE} bytes")));
        }
        Ok(_) => std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(error(e.to_string())),
    };
    let file: TokensFile = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
    let mut names = std::collections::HashSet::new();
    for entry in &file.token {
        // An empty name is the anonymous caller of an open daemon: no
        // token may stand for it.
        if entry.name.trim().is_empty() {
            return Err(error(
                "a token has an empty name (every token names its holder)".into(),
            ));
        }
        if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error(format!(
                "token `{}`: sha256 is not 64 hex digits",
                entry.name
            )));
        }
        if !names.insert(entry.name.as_str()) {
            return Err(error(format!("token `{}` appears twice", entry.name)));
        }
    }
    Ok(file.token)
}

/// Writes a tokens file whole (readers never see half of it).
pub fn write_entries(path: &Path, entries: &[TokenEntry]) -> Result<(), TokensFileError> {
    let error = |reason: String| TokensFileError {
        path: path.display().to_string(),
        reason,
    };
    let text = toml::to_string(&TokensFile {
        token: entries.to_vec(),
    })
    .map_err(|e| error(e.to_string()))?;
    let header = "# edgeless tokens: written by `edgeless_cli token`; hashes only.\n";
    let partial = path.with_extension("partial");
    std::fs::write(&partial, format!("{header}{text}"))
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| error(e.to_string()))
}

struct Loaded {
    modified: Option<SystemTime>,
    checked: Instant,
    by_hash: HashMap<String, Identity>,
}

/// The tokens a daemon accepts, read from its tokens file.
pub struct TokenStore {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl TokenStore {
    /// Reads `path`; it must exist (an empty file accepts no token).
    pub fn open(path: &str) -> Result<Self, TokensFileError> {
        let path = PathBuf::from(path);
        if !path.exists() {
            return Err(TokensFileError {
                path: path.display().to_string(),
                reason: "does not exist (create tokens with `edgeless_cli token create`)".into(),
            });
        }
        let loaded = load(&path)?;
        Ok(Self {
            path,
            loaded: Mutex::new(loaded),
        })
    }

    /// The identity `token` belongs to, if the file lists it.
    pub fn lookup(&self, token: &str) -> Option<Identity> {
        let hash = hash_token(token);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.checked.elapsed() >= RECHECK {
            loaded.checked = Instant::now();
            if modified(&self.path) != loaded.modified {
                match load(&self.path) {
                    Ok(fresh) => *loaded = fresh,
                    // Keep the tokens we had: a half-edited file must not
                    // lock everyone out.
                    Err(error) => tracing::warn!(%error, "tokens file not read again"),
                }
            }
        }
        loaded.by_hash.get(&hash).cloned()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(path: &Path) -> Result<Loaded, TokensFileError> {
    let modified = modified(path);
    let by_hash = read_entries(path)?
        .into_iter()
        .map(|e| {
            (
                e.sha256.to_ascii_lowercase(),
                Identity {
                    role: e.role,
                    name: e.name,
                    tenant: e.tenant,
                },
            )
        })
        .collect();
    Ok(Loaded {
        modified,
        checked: Instant::now(),
        by_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: Role, token: &str) -> TokenEntry {
        TokenEntry {
            name: name.into(),
            role,
            tenant: "acme".into(),
            sha256: hash_token(token),
        }
    }

    #[test]
    fn tokens_are_found_by_hash_and_new_ones_are_read_without_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let alice = new_token();
        assert!(alice.starts_with("edgeless_") && alice.len() == 9 + 64);
        assert_ne!(alice, new_token());
        write_entries(&path, &[entry("alice", Role::Client, &alice)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&alice), "the token itself is never stored");
        let store = TokenStore::open(path.to_str().unwrap()).unwrap();
        let identity = store.lookup(&alice).unwrap();
        assert_eq!(
            (identity.role, identity.name.as_str()),
            (Role::Client, "alice")
        );
        assert_eq!(identity.tenant, "acme");
        assert!(store.lookup("edgeless_guess").is_none());

        let bob = new_token();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        write_entries(&path, &[entry("bob", Role::Admin, &bob)]).unwrap();
        // File times may be coarse: wait until the change is visible.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.lookup(&bob).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(store.lookup(&bob).unwrap().role, Role::Admin);
        assert!(store.lookup(&alice).is_none(), "a removed token is refused");
    }

    #[test]
    fn an_entry_without_a_tenant_is_in_the_default_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let token = new_token();
        let line = format!(
            "[[token]]\nname = \"a\"\nrole = \"client\"\nsha256 = \"{}\"\n",
            hash_token(&token)
        );
        std::fs::write(&path, line).unwrap();
        let store = TokenStore::open(path.to_str().unwrap()).unwrap();
        assert_eq!(
            store.lookup(&token).unwrap().tenant,
            super::super::DEFAULT_TENANT
        );
        // A tokens file that is not there yet reads as empty; one that
        // cannot be looked at is an error.
        let none = read_entries(&dir.path().join("none.toml")).unwrap();
        assert!(none.is_empty());
        assert!(read_entries(&path.join("under-a-file.toml")).is_err());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let missing = TokenStore::open(path.to_str().unwrap()).err().unwrap();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        std::fs::write(
            &path,
            "[[token]]\nname = \"a\"\nrole = \"root\"\nsha256 = \"00\"\n",
        )
        .unwrap();
        let error = TokenStore::open(path.to_str().unwrap()).err().unwrap();
        assert!(
            error.to_string().contains("unknown variant `root`"),
            "{error}"
        );
        std::fs::write(
            &path,
            "[[token]]\nname = \"a\"\nrole = \"node\"\nsha256 = \"00\"\n",
        )
        .unwrap();
        let error = TokenStore::open(path.to_str().unwrap()).err().unwrap();
        assert!(error.to_string().contains("64 hex digits"), "{error}");
        let zeros = "0".repeat(64);
        std::fs::write(
            &path,
            format!("[[token]]\nname = \"\"\nrole = \"client\"\nsha256 = \"{zeros}\"\n"),
        )
        .unwrap();
        let error = TokenStore::open(path.to_str().unwrap()).err().unwrap();
        assert!(error.to_string().contains("empty name"), "{error}");
        let big = vec![b'#'; MAX_TOKENS_FILE as usize + 1];
        std::fs::write(&path, big).unwrap();
        let error = TokenStore::open(path.to_str().unwrap()).err().unwrap();
        assert!(error.to_string().contains("larger than"), "{error}");
    }
}
