//! Who may do what: identities, roles and tenants on every gRPC API.
//!
//! Every caller has an [`Identity`]: a [`Role`], a name and a tenant. With
//! mutual TLS it comes from the caller's certificate (the role in its
//! organizational unit, the name in its common name, the tenant in its
//! organization; `edgeless_cli tls generate` stamps them). Without TLS it
//! comes from a bearer token that the daemon finds in its tokens file
//! (`[auth] tokens_file`, written by `edgeless_cli token create`, hashes
//! only). A daemon with neither TLS nor a tokens file is *open*: every
//! caller is an anonymous administrator, which only loopback listeners allow
//! unless the daemon runs with `--insecure`.
//!
//! Each server checks callers in one place, [`AuthLayer`], against a table
//! of gRPC method → roles ([`policy`]); handlers read the caller with
//! [`caller`] for what depends on more than the role (tenants, node ids).

pub mod binding;
#[cfg(feature = "tls")]
mod cert;
mod layer;
pub mod policy;
pub mod streams;
pub mod tokens;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

pub use binding::{Binding, LINK_HEADER, LinkGrant, PeerCaller, peer_credential, relay_credential};
pub use layer::{AuthLayer, AuthService, Verifier};
pub use policy::Policy;
pub use tokens::{TokenEntry, TokenStore, TokensFileError, hash_token, new_token};

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A user who sees and manages every tenant's workflows.
    Admin,
    /// A user who manages its own tenant's workflows.
    Client,
    /// The controller (ε-CON).
    Controller,
    /// An orchestrator (ε-ORC).
    Orchestrator,
    /// A node (or a balancer, which speaks the dataplane like a node).
    Node,
}

impl Role {
    /// Every role, in the order of the documentation.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Client,
        Role::Controller,
        Role::Orchestrator,
        Role::Node,
    ];

    /// The role's name, as in certificates, token files and `ROLE:NAME`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Client => "client",
            Role::Controller => "controller",
            Role::Orchestrator => "orchestrator",
            Role::Node => "node",
        }
    }

    /// The role a component name implies: `controller`, `orchestrator*`,
    /// `node*` and `balancer*` (a balancer speaks the dataplane as a node);
    /// anything else is a client.
    pub fn implied_by(name: &str) -> Role {
        if name == "controller" {
            Role::Controller
        } else if name.starts_with("orchestrator") {
            Role::Orchestrator
        } else if name.starts_with("node") || name.starts_with("balancer") {
            Role::Node
        } else {
            Role::Client
        }
    }

    /// Splits `ROLE:NAME` (or a plain `NAME`, whose role is
    /// [`implied_by`](Role::implied_by) it).
    pub fn split(spec: &str) -> Result<(Role, &str), String> {
        match spec.split_once(':') {
            Some((role, name)) => Ok((role.parse()?, name)),
            None => Ok((Role::implied_by(spec), spec)),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?} (one of admin, client, controller, orchestrator, node)")
            })
    }
}

/// The tenant of callers that name none.
pub const DEFAULT_TENANT: &str = "default";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// What it may do.
    pub role: Role,
    /// Its name (a certificate's common name, a token's name); empty for the
    /// anonymous caller of an open daemon.
    pub name: String,
    /// The tenant its workflows belong to.
    pub tenant: String,
}

impl Identity {
    /// The caller of an open daemon (no TLS, no tokens): may do anything.
    pub fn anonymous() -> Self {
        Self {
            role: Role::Admin,
            name: String::new(),
            tenant: DEFAULT_TENANT.to_string(),
        }
    }

    /// Whether this is the anonymous caller of an open daemon.
    pub fn is_anonymous(&self) -> bool {
        self.name.is_empty()
    }

    /// The tenant whose workflows this caller may see, or `None` for all of
    /// them (administrators).
    pub fn tenant_scope(&self) -> Option<&str> {
        (self.role != Role::Admin).then_some(self.tenant.as_str())
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_anonymous() {
            f.write_str("anonymous caller")
        } else {
            write!(f, "{} `{}`", self.role, self.name)
        }
    }
}

/// The caller of a request, as the server's [`AuthLayer`] identified it.
/// Without the layer (in-process calls), the anonymous caller.
pub fn caller<T>(request: &tonic::Request<T>) -> Identity {
    request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous)
}

/// The `[auth]` section of every daemon's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The tokens this daemon accepts (a file written by `edgeless_cli token
    /// create`; it holds hashes only). Empty: no tokens.
    pub tokens_file: String,
    /// A file holding the token this daemon presents to the others (its
    /// join token). Empty: none.
    pub token_file: String,
}

/// Why authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The tokens file is unusable.
    #[error("[auth] tokens_file: {0}")]
    Tokens(#[from] TokensFileError),
    /// The token file is unusable.
    #[error("[auth] token_file = {path:?}: {reason}")]
    Token {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Another configuration is already installed in this process.
    #[error("a different [auth] configuration is already in use in this process")]
    Conflict,
    /// A listener would expose an open daemon.
    #[error(
        "{key} = {url:?} is reachable from other hosts, but this daemon has neither [tls] nor [auth] tokens_file, so anyone who reaches it owns the cluster; configure one (see documentation/security.md), bind to 127.0.0.1, or start with --insecure"
    )]
    Exposed {
        /// The configuration key.
        key: String,
        /// The URL.
        url: String,
    },
}

struct Installed {
    config: AuthConfig,
    verifier: std::sync::Arc<Verifier>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();
static OWN_TOKEN: OnceLock<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
    OnceLock::new();
static INSECURE: AtomicBool = AtomicBool::new(false);

/// Sets up this process's authentication from its `[auth]` section: the
/// tokens its servers accept and the token its clients present. Call after
/// [`crate::tls::set_up`]. Installing the same section again is harmless.
pub fn install(config: &AuthConfig) -> Result<(), AuthError> {
    if let Some(installed) = INSTALLED.get() {
        return if installed.config == *config {
            Ok(())
        } else {
            Err(AuthError::Conflict)
        };
    }
    let tokens = if config.tokens_file.is_empty() {
        None
    } else {
        Some(TokenStore::open(&config.tokens_file)?)
    };
    if !config.token_file.is_empty() {
        use_token(&read_token_file(&config.token_file)?).map_err(|reason| AuthError::Token {
            path: config.token_file.clone(),
            reason,
        })?;
    }
    let verifier = Verifier::new(crate::tls::is_installed(), tokens);
    let _ = INSTALLED.set(Installed {
        config: config.clone(),
        verifier: std::sync::Arc::new(verifier),
    });
    Ok(())
}

fn read_token_file(path: &str) -> Result<String, AuthError> {
    let error = |reason: String| AuthError::Token {
        path: path.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(error("is empty".into()));
    }
    Ok(token.to_string())
}

/// Makes every client of this process present `token` (see
/// [`crate::client::channel`]). The first token set stays.
pub fn use_token(token: &str) -> Result<(), String> {
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| "a token is printable ASCII without spaces".to_string())?;
    let _ = OWN_TOKEN.set(value);
    Ok(())
}

/// The `authorization` value this process's clients present, if any.
pub(crate) fn own_token() -> Option<&'static tonic::metadata::MetadataValue<tonic::metadata::Ascii>>
{
    OWN_TOKEN.get()
}

/// The verifier of this process's servers: the installed one, or, before
/// [`install`], one for TLS if installed and no tokens.
pub fn verifier() -> std::sync::Arc<Verifier> {
    match INSTALLED.get() {
        Some(installed) => installed.verifier.clone(),
        None => std::sync::Arc::new(Verifier::new(crate::tls::is_installed(), None)),
    }
}

/// Lets open daemons listen on addresses other hosts reach (`--insecure`).
pub fn allow_insecure() {
    INSECURE.store(true, Ordering::Relaxed);
}

/// Refuses to expose an open daemon: a listener for `key` on `url` must be
/// on loopback unless TLS or tokens are set up, or `--insecure` was given.
pub fn check_exposure(key: &str, url: &str) -> Result<(), AuthError> {
    if INSECURE.load(Ordering::Relaxed) {
        return Ok(());
    }
    exposure(key, url, verifier().is_open())
}

/// Whether a listener for `key` on `url` may be opened by a daemon that is
/// `open` (no TLS, no tokens): only on loopback.
fn exposure(key: &str, url: &str, open: bool) -> Result<(), AuthError> {
    let loopback = crate::client::bind_address(url).is_ok_and(|a| a.ip().is_loopback());
    if !open || loopback {
        return Ok(());
    }
    Err(AuthError::Exposed {
        key: key.to_string(),
        url: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_imply_roles() {
        assert_eq!(Role::implied_by("controller"), Role::Controller);
        assert_eq!(Role::implied_by("orchestrator-2"), Role::Orchestrator);
        assert_eq!(Role::implied_by("node0"), Role::Node);
        assert_eq!(Role::implied_by("cli"), Role::Client);
        assert_eq!(Role::implied_by("controller2"), Role::Client);
        assert_eq!(Role::split("admin:ops").unwrap(), (Role::Admin, "ops"));
        assert_eq!(Role::split("node7").unwrap(), (Role::Node, "node7"));
        assert!(Role::split("root:x").unwrap_err().contains("unknown role"));
    }

    #[test]
    fn an_open_daemon_listens_only_on_loopback() {
        for url in [
            "http://127.0.0.1:7001",
            "http://[::1]:7001",
            "https://localhost:7001",
        ] {
            assert!(exposure("controller_url", url, true).is_ok(), "{url}");
        }
        for url in [
            "http://0.0.0.0:7001",
            "http://10.1.2.3:7001",
            "http://[::]:7001",
        ] {
            let error = exposure("controller_url", url, true)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("controller_url") && error.contains(url),
                "{error}"
            );
            // With TLS or tokens, any address.
            assert!(exposure("controller_url", url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn only_the_caller_of_an_open_daemon_is_anonymous() {
        assert!(Identity::anonymous().is_anonymous());
        let named = Identity {
            role: Role::Admin,
            name: "ops".into(),
            tenant: DEFAULT_TENANT.into(),
        };
        assert!(!named.is_anonymous());
    }

    #[test]
    fn only_admins_see_every_tenant() {
        let mut identity = Identity {
            role: Role::Client,
            name: "alice".into(),
            tenant: "acme".into(),
        };
        assert_eq!(identity.tenant_scope(), Some("acme"));
        identity.role = Role::Admin;
        assert_eq!(identity.tenant_scope(), None);
        assert_eq!(Identity::anonymous().tenant_scope(), None);
    }
}
