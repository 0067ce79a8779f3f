//! Binding listeners for the daemons' gRPC servers.
//!
//! Listeners are bound before a daemon starts serving, so a port conflict is
//! reported at start-up with the URL that caused it. Accepted connections get
//! `TCP_NODELAY`: small dataplane messages must not wait for Nagle.
//!
//! A URL with port 0 lets the system choose a free port; the daemon then
//! works with (and announces) the URL of the port it got, see [`bound_url`],
//! and tells where it listens through a [`Listening`] report.

use tonic::transport::server::TcpIncoming;

use crate::client::{InvalidUrl, bind_address};

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The URL does not name an address.
    #[error(transparent)]
    Url(#[from] InvalidUrl),
    /// An open daemon would be reachable from other hosts.
    #[error(transparent)]
    Exposed(#[from] crate::auth::AuthError),
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

/// `url` as others reach it: a URL on an unspecified address (`0.0.0.0`,
/// `[::]`) gets the host's first address that is not loopback (IPv4 first),
/// or stays as it is when the host has none.
pub fn reachable_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (host, port_and_path) = if let Some(rest) = rest.strip_prefix("[::]") {
        ("[::]", rest)
    } else {
        match rest.find(':') {
            Some(i) => rest.split_at(i),
            None => return url.to_string(),
        }
    };
    if host != "0.0.0.0" && host != "[::]" {
        return url.to_string();
    }
    match first_host_address() {
        Some(std::net::IpAddr::V4(ip)) => format!("{scheme}://{ip}{port_and_path}"),
        Some(std::net::IpAddr::V6(ip)) => format!("{scheme}://[{ip}]{port_and_path}"),
        None => url.to_string(),
    }
}

/// The host's first address that is not loopback or link-local, IPv4
/// before IPv6.
fn first_host_address() -> Option<std::net::IpAddr> {
    let mut addresses: Vec<std::net::IpAddr> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .map(|interface| interface.ip())
        .filter(|ip| match ip {
            std::net::IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            std::net::IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local(),
        })
        .collect();
    addresses.sort_by_key(|ip| ip.is_ipv6());
    addresses.first().copied()
}

/// `url` with its port replaced by the one `listener` is bound to, so that a
/// configured port 0 becomes the port the system chose.
pub fn bound_url(url: &str, listener: &tokio::net::TcpListener) -> String {
    let Ok(port) = listener.local_addr().map(|a| a.port()) else {
        return url.to_string();
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rfind(':') {
        // An IPv6 literal without a port, e.g. `[::1]`, has no port to cut.
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{host}:{port}{path}"),
    }
}

/// Binds the gRPC listener of configuration key `key` at `url` and returns
/// it with the URL it is bound to (see [`bound_url`]). An open daemon (no
/// TLS, no tokens) may only listen on loopback, unless `--insecure`.
pub async fn bind_url(
    key: &str,
    url: &str,
) -> Result<(tokio::net::TcpListener, String), BindError> {
    crate::auth::check_exposure(key, url)?;
    let listener = bind(url).await?;
    let bound = bound_url(url, &listener);
    Ok((listener, bound))
}

/// The URLs a running component listens on, by configuration key (e.g.
/// `controller_url`), once all its listeners are bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listening(Vec<(String, String)>);

impl Listening {
    /// Adds the URL `key` is bound to.
    pub fn with(mut self, key: &str, url: &str) -> Self {
        self.0.push((key.to_string(), url.to_string()));
        self
    }

    /// The URL of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, url)| url.as_str())
    }

    /// Every key and URL, in the order they were added.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `key = "url"` lines (a TOML table's body).
    pub fn to_toml(&self) -> String {
        self.0
            .iter()
            .map(|(key, url)| format!("{key} = {}\n", toml::Value::from(url.as_str())))
            .collect()
    }
}

/// Where a component reports its [`Listening`] addresses once bound: nowhere,
/// or a callback (a daemon's `--listening-file`, in-a-box wiring components
/// together).
#[derive(Default)]
pub struct ListeningReport(Option<ReportFn>);

/// What receives a daemon's [`Listening`] once.
type ReportFn = Box<dyn FnOnce(&Listening) + Send>;

impl ListeningReport {
    /// Reports to `callback`.
    pub fn to(callback: impl FnOnce(&Listening) + Send + 'static) -> Self {
        Self(Some(Box::new(callback)))
    }

    /// Logs the addresses and hands them to the callback, if any.
    pub fn send(self, listening: &Listening) {
        for (key, url) in listening.entries() {
            tracing::info!(%url, "{key} listening");
        }
        if let Some(callback) = self.0 {
            callback(listening);
        }
    }
}

/// The connection stream tonic serves from, with `TCP_NODELAY` set.
pub fn incoming(listener: tokio::net::TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A tonic server builder for a server whose callers are checked against
/// `policy` (see [`crate::auth`]): with TLS and required client
/// certificates when [`crate::tls::install`] set them up, else plain.
pub fn builder(policy: crate::auth::Policy) -> Result<AuthorizedServer, crate::tls::TlsError> {
    bound_builder(policy, None)
}

/// Like [`builder`], for a server that obeys one peer in a role (see
/// [`crate::auth::binding`]).
pub fn bound_builder(
    policy: crate::auth::Policy,
    binding: Option<crate::auth::Binding>,
) -> Result<AuthorizedServer, crate::tls::TlsError> {
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)));
    // Dataplane streams live as long as their peer link; every other call
    // ends within the longest deployment.
    if !policy.streams {
        builder = builder.timeout(HANDLER_TIMEOUT);
    }
    #[cfg(feature = "tls")]
    let builder = match crate::tls::server_config() {
        Some(tls) => builder
            .tls_config(tls)
            .map_err(|e| crate::tls::TlsError::Refused(e.to_string()))?,
        None => builder,
    };
    // The standard health service, so that grpcurl, grpc_health_probe and
    // load balancers can check the server (it answers SERVING while the
    // server runs; no credentials needed).
    let (_reporter, health) = tonic_health::server::health_reporter();
    // Reflection, so that grpcurl lists and calls the services without the
    // .proto file.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the descriptors built into this binary are valid");
    Ok(builder
        .layer(crate::grpc_metrics::MetricsLayer::new(
            policy.server,
            policy.streams,
        ))
        .layer(crate::auth::AuthLayer::new(policy, crate::auth::verifier()).bound(binding))
        .add_service(health)
        .add_service(reflection))
}

/// The most concurrent calls (HTTP/2 streams) on one connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// How long a control-plane handler may run.
pub const HANDLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(150);

/// A server with the request metrics and authorization layers and the
/// health service; add the daemon's services to it.
pub type AuthorizedServer = tonic::transport::server::Router<
    tower_layer::Stack<
        crate::auth::AuthLayer,
        tower_layer::Stack<crate::grpc_metrics::MetricsLayer, tower_layer::Identity>,
    >,
>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_announced_as_the_hosts() {
        assert_eq!(
            reachable_url("http://127.0.0.1:7001"),
            "http://127.0.0.1:7001"
        );
        assert_eq!(
            reachable_url("https://edge.example:7001"),
            "https://edge.example:7001"
        );
        let expected = first_host_address();
        let announced = reachable_url("http://0.0.0.0:7005");
        match expected {
            Some(std::net::IpAddr::V4(ip)) => assert_eq!(announced, format!("http://{ip}:7005")),
            Some(std::net::IpAddr::V6(ip)) => assert_eq!(announced, format!("http://[{ip}]:7005")),
            None => assert_eq!(announced, "http://0.0.0.0:7005"),
        }
        let announced = reachable_url("http://[::]:7006");
        assert!(
            !announced.contains("[::]:") || expected.is_none(),
            "{announced}"
        );
    }

    async fn port_of(url: &str) -> (tokio::net::TcpListener, u16) {
        let listener = bind(url).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    #[tokio::test]
    async fn port_zero_becomes_the_bound_port() {
        let (listener, port) = port_of("http://127.0.0.1:0").await;
        assert_ne!(port, 0);
        assert_eq!(
            bound_url("http://127.0.0.1:0", &listener),
            format!("http://127.0.0.1:{port}")
        );
        assert_eq!(
            bound_url("https://127.0.0.1:0/", &listener),
            format!("https://127.0.0.1:{port}/")
        );
        assert_eq!(
            bound_url("127.0.0.1:0", &listener),
            format!("127.0.0.1:{port}")
        );
        // Only the port changes, whatever the host.
        assert_eq!(
            bound_url("http://[::1]:0", &listener),
            format!("http://[::1]:{port}")
        );
        let (_listener, bound) = bind_url("url", "http://127.0.0.1:0").await.unwrap();
        assert!(!bound.ends_with(":0"), "{bound}");
    }

    #[test]
    fn listening_prints_as_toml() {
        let listening = Listening::default()
            .with("agent_url", "http://127.0.0.1:4001")
            .with("invocation_url", "http://127.0.0.1:4002");
        let table: toml::Table = toml::from_str(&listening.to_toml()).unwrap();
        assert_eq!(table["agent_url"].as_str(), Some("http://127.0.0.1:4001"));
        assert_eq!(
            listening.get("invocation_url"),
            Some("http://127.0.0.1:4002")
        );
        assert_eq!(listening.get("other"), None);
    }
}
