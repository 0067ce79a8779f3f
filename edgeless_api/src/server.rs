//! Binding listeners for the daemons' gRPC servers.
//!
//! Listeners are bound before a daemon starts serving, so a port conflict is
//! reported at start-up with the URL that caused it. Accepted connections get
//! `TCP_NODELAY`: small dataplane messages must not wait for Nagle.

use tonic::transport::server::TcpIncoming;

use crate::client::{InvalidUrl, bind_address};

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The URL does not name an address.
    #[error(transparent)]
    Url(#[from] InvalidUrl),
    /// The address is taken or not local.
    #[error("cannot listen on {url}: {source}")]
    Io {
        /// The URL from the configuration.
        url: String,
        /// The socket error.
        source: std::io::Error,
    },
}

/// Binds the address of `url` (e.g. `http://0.0.0.0:7001`).
pub async fn bind(url: &str) -> Result<tokio::net::TcpListener, BindError> {
    let address = bind_address(url)?;
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| BindError::Io {
            url: url.to_string(),
            source,
        })
}

/// The connection stream tonic serves from, with `TCP_NODELAY` set.
pub fn incoming(listener: tokio::net::TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A tonic server builder: with TLS and required client certificates when
/// [`crate::tls::install`] set them up, else plain.
pub fn builder() -> Result<tonic::transport::Server, crate::tls::TlsError> {
    let builder = tonic::transport::Server::builder();
    #[cfg(feature = "tls")]
    if let Some(tls) = crate::tls::server_config() {
        return builder
            .tls_config(tls)
            .map_err(|e| crate::tls::TlsError::Refused(e.to_string()));
    }
    Ok(builder)
}
