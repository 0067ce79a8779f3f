//! TLS with mutual authentication for every gRPC link of a process.
//!
//! A component configured with a `[tls]` section (the cluster CA, its own
//! certificate and key, all PEM files) calls [`install`] once at start.
//! From then on every server it starts ([`crate::server::builder`]) requires
//! a client certificate signed by the CA, and every client it opens to an
//! `https://` URL ([`crate::client::channel`]) presents its own certificate
//! and checks the server's against the CA. `http://` URLs stay plain TCP.
//! `edgeless_cli tls generate` writes a CA and component certificates.

use serde::{Deserialize, Serialize};

/// The `[tls]` section of every component's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster CA certificate (PEM): peers must present a certificate
    /// it signed. Empty: no TLS.
    pub ca_cert: String,
    /// This component's certificate (PEM), signed by the CA.
    pub cert: String,
    /// This component's private key (PEM).
    pub key: String,
}

impl TlsFiles {
    /// Whether TLS is configured.
    pub fn is_enabled(&self) -> bool {
        !self.ca_cert.is_empty() || !self.cert.is_empty() || !self.key.is_empty()
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing or unreadable.
    #[error("[tls] {key} = {path:?}: {reason}")]
    File {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// This build has no TLS.
    #[error("[tls] is configured but this build of edgeless has no TLS support")]
    Unsupported,
    /// Another identity is already installed in this process.
    #[error("a different [tls] configuration is already in use in this process")]
    Conflict,
    /// The server configuration was refused.
    #[error("TLS: {0}")]
    Refused(String),
    /// A gRPC URL whose scheme does not match the `[tls]` section: with TLS
    /// every link is `https://`, without it every link is `http://`.
    #[error("{key} = {url:?}: {}", if *.tls { "[tls] is configured, so every gRPC URL must be https://" } else { "an https:// URL needs the [tls] section (ca_cert, cert, key)" })]
    Scheme {
        /// The configuration key.
        key: String,
        /// Its URL.
        url: String,
        /// Whether `[tls]` is configured.
        tls: bool,
    },
}

#[cfg(feature = "tls")]
mod imp {
    use super::*;
    use std::sync::OnceLock;
    use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

    pub struct Installed {
        pub files: TlsFiles,
        pub client: ClientTlsConfig,
        pub server: ServerTlsConfig,
    }

    pub static INSTALLED: OnceLock<Installed> = OnceLock::new();

    fn read(key: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
        let file = |reason: String| TlsError::File {
            key,
            path: path.to_string(),
            reason,
        };
        if path.is_empty() {
            return Err(file(
                "is empty; ca_cert, cert and key are all needed".into(),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| file(e.to_string()))?;
        if !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") {
            return Err(file("is not a PEM file".into()));
        }
        Ok(bytes)
    }

    fn load(files: &TlsFiles) -> Result<(Certificate, Identity), TlsError> {
        let ca = Certificate::from_pem(read("ca_cert", &files.ca_cert)?);
        let identity = Identity::from_pem(read("cert", &files.cert)?, read("key", &files.key)?);
        Ok((ca, identity))
    }

    /// The client side of `files`, without installing them.
    pub fn client_config(files: &TlsFiles) -> Result<ClientTlsConfig, TlsError> {
        let (ca, identity) = load(files)?;
        Ok(ClientTlsConfig::new().ca_certificate(ca).identity(identity))
    }

    pub fn install(files: &TlsFiles) -> Result<(), TlsError> {
        if let Some(installed) = INSTALLED.get() {
            return if installed.files == *files {
                Ok(())
            } else {
                Err(TlsError::Conflict)
            };
        }
        let (ca, identity) = load(files)?;
        let installed = Installed {
            files: files.clone(),
            client: ClientTlsConfig::new()
                .ca_certificate(ca.clone())
                .identity(identity.clone()),
            server: ServerTlsConfig::new().identity(identity).client_ca_root(ca),
        };
        // Check the key and certificates now rather than at the first
        // connection.
        tonic::transport::Server::builder()
            .tls_config(installed.server.clone())
            .map_err(|e| TlsError::Refused(format!("{e} (do cert and key match?)")))?;
        let _ = INSTALLED.set(installed);
        Ok(())
    }
}

/// Sets up TLS for this process from `files`; does nothing when they are
/// empty. Installing the same files again is harmless.
pub fn install(files: &TlsFiles) -> Result<(), TlsError> {
    if !files.is_enabled() {
        return Ok(());
    }
    #[cfg(feature = "tls")]
    return imp::install(files);
    #[cfg(not(feature = "tls"))]
    Err(TlsError::Unsupported)
}

/// Checks that every gRPC URL of a component's configuration (`(key,
/// url)`, empty URLs skipped) has the scheme its `[tls]` section asks for:
/// mixing plain and TLS links would fail only at the first connection.
pub fn check_schemes(files: &TlsFiles, urls: &[(&str, &str)]) -> Result<(), TlsError> {
    let tls = files.is_enabled();
    for (key, url) in urls {
        if !url.is_empty() && url.starts_with("https://") != tls {
            return Err(TlsError::Scheme {
                key: key.to_string(),
                url: url.to_string(),
                tls,
            });
        }
    }
    Ok(())
}

/// Sets up a component's TLS: checks its gRPC URLs (see
/// [`check_schemes`]), then installs its files (see [`install`]).
pub fn set_up(files: &TlsFiles, urls: &[(&str, &str)]) -> Result<(), TlsError> {
    check_schemes(files, urls)?;
    install(files)
}

/// The client side, when installed.
#[cfg(feature = "tls")]
pub(crate) fn client_config() -> Option<tonic::transport::ClientTlsConfig> {
    imp::INSTALLED.get().map(|i| i.client.clone())
}

/// The client side of `files`, for one channel that presents another
/// identity than the installed one (see [`crate::client::channel_as`]).
#[cfg(feature = "tls")]
pub(crate) fn client_config_for(
    files: &TlsFiles,
) -> Result<tonic::transport::ClientTlsConfig, TlsError> {
    imp::client_config(files)
}

/// The server side, when installed.
#[cfg(feature = "tls")]
pub(crate) fn server_config() -> Option<tonic::transport::ServerTlsConfig> {
    imp::INSTALLED.get().map(|i| i.server.clone())
}

/// Whether TLS is installed in this process.
pub fn is_installed() -> bool {
    #[cfg(feature = "tls")]
    return imp::INSTALLED.get().is_some();
    #[cfg(not(feature = "tls"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(enabled: bool) -> TlsFiles {
        let name = |n: &str| {
            if enabled {
                n.to_string()
            } else {
                String::new()
            }
        };
        TlsFiles {
            ca_cert: name("ca.pem"),
            cert: name("node.pem"),
            key: name("node.key"),
        }
    }

    #[test]
    fn schemes_must_match_the_tls_section() {
        let plain = [
            ("agent_url", "http://127.0.0.1:1"),
            ("node_register_url", ""),
        ];
        let secure = [("agent_url", "https://127.0.0.1:1")];
        assert!(check_schemes(&files(false), &plain).is_ok());
        assert!(check_schemes(&files(true), &secure).is_ok());
        let mixed = [
            ("agent_url", "https://127.0.0.1:1"),
            ("node_register_url", "http://127.0.0.1:2"),
        ];
        assert_eq!(
            check_schemes(&files(true), &mixed).unwrap_err().to_string(),
            "node_register_url = \"http://127.0.0.1:2\": [tls] is configured, so every gRPC URL must be https://"
        );
        assert_eq!(
            check_schemes(&files(false), &secure)
                .unwrap_err()
                .to_string(),
            "agent_url = \"https://127.0.0.1:1\": an https:// URL needs the [tls] section (ca_cert, cert, key)"
        );
        // Setting up checks the schemes before it reads any file.
        assert!(matches!(
            set_up(&files(true), &mixed),
            Err(TlsError::Scheme { .. })
        ));
        assert!(set_up(&files(false), &plain).is_ok());
    }
}
