//! Opening channels to other components. Every client in edgeless goes
//! through [`channel`], so connect and request deadlines are set in one place.

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

/// A channel to another component that presents this process's token, if
/// it has one (see [`crate::auth::use_token`]), or a link credential
/// ([`linked_channel`]).
pub type Channel = InterceptedService<tonic::transport::Channel, Credentials>;

/// What a channel presents with every request.
#[derive(Clone, Default)]
pub enum Credentials {
    /// This process's bearer token, if it has one: for addresses from this
    /// process's own configuration.
    #[default]
    Own,
    /// The link credential a peer handed out with its registration (see
    /// [`crate::auth::binding`]), never this process's token: for addresses
    /// a peer chose. `None`: nothing (the peer handed out none).
    Link(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>),
}

impl tonic::service::Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        match self {
            Credentials::Own => {
                if let Some(token) = crate::auth::own_token() {
                    request
                        .metadata_mut()
                        .insert("authorization", token.clone());
                }
            }
            Credentials::Link(Some(link)) => {
                request
                    .metadata_mut()
                    .insert(crate::auth::LINK_HEADER, link.clone());
            }
            Credentials::Link(None) => {}
        }
        Ok(request)
    }
}

impl Credentials {
    /// A link credential as a peer sent it; anything that is not a
    /// printable token is presented as nothing.
    pub fn link(token: &str) -> Self {
        Credentials::Link(token.parse().ok().filter(|_| !token.is_empty()))
    }
}

fn with_credentials(channel: tonic::transport::Channel) -> Channel {
    InterceptedService::new(channel, Credentials::Own)
}

/// A lazily connecting channel to `url`, an address a peer chose, that
/// presents the peer's link credential `link` and never this process's
/// token (see [`crate::auth::binding`]).
pub fn linked_channel(url: &str, link: &str) -> Result<Channel, InvalidUrl> {
    let channel = endpoint(url)?.timeout(REQUEST_TIMEOUT).connect_lazy();
    Ok(InterceptedService::new(channel, Credentials::link(link)))
}

/// [`linked_channel`] for long-lived streams: no request deadline.
pub fn linked_stream_channel(url: &str, link: &str) -> Result<Channel, InvalidUrl> {
    let channel = stream_endpoint(url)?.connect_lazy();
    Ok(InterceptedService::new(channel, Credentials::link(link)))
}

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long any control-plane request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An error in a URL given by configuration or a peer.
#[derive(Debug, thiserror::Error)]
#[error("invalid URL {url:?}: {reason}")]
pub struct InvalidUrl {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidUrl {
    fn new(url: &str, reason: String) -> Self {
        Self {
            url: url.to_string(),
            reason,
        }
    }
}

/// A lazily connecting channel to `url` with the standard deadlines.
/// The connection is made on first use and re-made after failures.
pub fn channel(url: &str) -> Result<Channel, InvalidUrl> {
    Ok(with_credentials(
        endpoint(url)?.timeout(REQUEST_TIMEOUT).connect_lazy(),
    ))
}

/// Like [`channel`], presenting the identity of `files` (CA, certificate,
/// key) to an `https://` URL instead of this process's installed one: for
/// a tool that acts in two roles, such as a benchmark hosting nodes and
/// starting their functions as the controller would.
#[cfg(feature = "tls")]
pub fn channel_as(url: &str, files: &crate::tls::TlsFiles) -> Result<Channel, InvalidUrl> {
    Ok(with_credentials(tls_channel_for(url, files)?))
}

/// Like [`channel_as`], presenting also the link credential `link` that
/// the server handed out (see [`crate::auth::binding`]).
#[cfg(feature = "tls")]
pub fn channel_as_linked(
    url: &str,
    files: &crate::tls::TlsFiles,
    link: &str,
) -> Result<Channel, InvalidUrl> {
    let channel = tls_channel_for(url, files)?;
    Ok(InterceptedService::new(channel, Credentials::link(link)))
}

#[cfg(feature = "tls")]
fn tls_channel_for(
    url: &str,
    files: &crate::tls::TlsFiles,
) -> Result<tonic::transport::Channel, InvalidUrl> {
    let invalid = |reason: String| InvalidUrl::new(url, reason);
    if !url.starts_with("https://") {
        return Err(invalid(
            "an identity is presented over https:// only".into(),
        ));
    }
    let tls = crate::tls::client_config_for(files).map_err(|e| invalid(e.to_string()))?;
    let endpoint = plain_endpoint(url)?
        .tls_config(tls)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(endpoint.timeout(REQUEST_TIMEOUT).connect_lazy())
}

fn plain_endpoint(url: &str) -> Result<Endpoint, InvalidUrl> {
    let invalid = |reason: String| InvalidUrl::new(url, reason);
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(invalid(format!(
            "a URL starts with http:// (or https:// with TLS), e.g. http://{}",
            url.split_once("://").map_or(url, |(_, rest)| rest)
        )));
    }
    let endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| invalid(e.to_string()))?;
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true))
}

fn endpoint(url: &str) -> Result<Endpoint, InvalidUrl> {
    let invalid = |reason: String| InvalidUrl::new(url, reason);
    let endpoint = plain_endpoint(url)?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = crate::tls::client_config() {
        return endpoint.tls_config(tls).map_err(|e| invalid(e.to_string()));
    }
    Err(invalid(
        "an https URL needs TLS: configure the [tls] section (ca_cert, cert, key)".into(),
    ))
}

/// Like [`channel`], with the given connect timeout and deadline of every
/// request (for the command line's `--timeout`).
pub fn channel_with_timeouts(
    url: &str,
    connect: Duration,
    request: Duration,
) -> Result<Channel, InvalidUrl> {
    Ok(with_credentials(
        endpoint(url)?
            .connect_timeout(connect)
            .timeout(request)
            .connect_lazy(),
    ))
}

/// A lazily connecting channel for long-lived streams: no request deadline.
pub fn stream_channel(url: &str) -> Result<Channel, InvalidUrl> {
    Ok(with_credentials(stream_endpoint(url)?.connect_lazy()))
}

fn stream_endpoint(url: &str) -> Result<Endpoint, InvalidUrl> {
    Ok(endpoint(url)?
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_timeout(std::time::Duration::from_secs(10)))
}

/// The metadata key that carries a container function's instance token.
pub const TOKEN_HEADER: &str = "x-edgeless-token";

/// Adds an instance token to every request (container functions and their
/// node authenticate each other with it).
#[derive(Clone)]
pub struct TokenInterceptor(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl TokenInterceptor {
    /// `None` when the token is not printable ASCII.
    pub fn new(token: &str) -> Option<Self> {
        token.parse().ok().map(Self)
    }
}

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(TOKEN_HEADER, self.0.clone());
        Ok(request)
    }
}

/// Turns a URL such as `http://0.0.0.0:7001` into the socket address to bind.
pub fn bind_address(url: &str) -> Result<std::net::SocketAddr, InvalidUrl> {
    let invalid = |reason: &str| InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(url)
        .trim_end_matches('/');
    use std::net::ToSocketAddrs;
    rest.to_socket_addrs()
        .map_err(|e| invalid(&e.to_string()))?
        .next()
        .ok_or_else(|| invalid("no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_address_parses_urls() {
        assert_eq!(
            bind_address("http://127.0.0.1:7001").unwrap().to_string(),
            "127.0.0.1:7001"
        );
        assert_eq!(bind_address("http://0.0.0.0:7001/").unwrap().port(), 7001);
        assert!(bind_address("http://127.0.0.1").is_err());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_channel_as_another_identity_needs_https_and_readable_files() {
        let files = crate::tls::TlsFiles {
            ca_cert: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/node.pem".into(),
            key: "/nonexistent/node.key".into(),
        };
        let plain = channel_as("http://127.0.0.1:7001", &files).err().unwrap();
        assert!(plain.to_string().contains("https:// only"), "{plain}");
        let missing = channel_as("https://127.0.0.1:7001", &files).err().unwrap();
        assert!(
            missing.to_string().contains("/nonexistent/ca.pem"),
            "{missing}"
        );
    }

    #[test]
    fn a_url_needs_its_scheme() {
        let error = channel("127.0.0.1:7001").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid URL \"127.0.0.1:7001\": a URL starts with http:// (or https:// with TLS), e.g. http://127.0.0.1:7001"
        );
        assert!(
            channel("tcp://h:1")
                .unwrap_err()
                .to_string()
                .contains("e.g. http://h:1")
        );
    }
}
