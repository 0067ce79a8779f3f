//! Where resources (`http-egress`, `redis`, `kafka-egress`) may connect
//! for a workflow. By default only public addresses: the node itself
//! (loopback, the addresses of its own interfaces, its listening ports),
//! link-local addresses (cloud metadata services among them), private
//! ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), unspecified,
//! multicast and broadcast addresses are refused. With an allowlist
//! (`[resources] egress_allow`: host names, addresses, CIDR blocks) only
//! what it names is reachable; the node's own interface addresses then
//! only when listed one by one (not through a block that contains them).
//! Names are resolved here and every address checked, so a name cannot
//! point past the policy.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq)]
enum Allowed {
    Host(String),
    Network(IpAddr, u8),
}

/// The policy of one node.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow: Vec<Allowed>,
    own_ports: Vec<u16>,
    /// The addresses of the node's own interfaces (eth0, docker0, ...).
    own_addresses: Vec<IpAddr>,
}

impl EgressPolicy {
    /// A policy from the allowlist entries and the node's listening ports;
    /// the node's interface addresses are read here.
    pub fn new(entries: &[String], own_ports: Vec<u16>) -> Result<Self, String> {
        let own_addresses = if_addrs::get_if_addrs()
            .map(|interfaces| interfaces.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default();
        Self::with_own_addresses(entries, own_ports, own_addresses)
    }

    fn with_own_addresses(
        entries: &[String],
        own_ports: Vec<u16>,
        own_addresses: Vec<IpAddr>,
    ) -> Result<Self, String> {
        let allow = entries
            .iter()
            .map(|entry| parse_entry(entry))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow,
            own_ports,
            own_addresses,
        })
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow
            .iter()
            .any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    /// Whether an address of `host` may be connected to.
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        if self.host_allowed(host) {
            return true;
        }
        let ip = canonical(ip);
        let listed_alone = self.allow.iter().any(|a| {
            matches!(a, Allowed::Network(net, prefix)
                if canonical(*net) == ip && u32::from(*prefix) == full_prefix(ip))
        });
        if listed_alone {
            return true;
        }
        if self.own_addresses.iter().any(|own| canonical(*own) == ip) {
            return false;
        }
        if self.allow.is_empty() {
            return !is_the_node(ip) && !is_private(ip);
        }
        self.allow.iter().any(|a| match a {
            Allowed::Network(net, prefix) => in_network(ip, *net, *prefix),
            Allowed::Host(_) => false,
        })
    }

    /// Checks a request's host and port before anything is resolved: the
    /// node's own ports, and address literals (which skip resolution).
    pub fn check_target(&self, host: &str, port: u16) -> Result<(), String> {
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        if let Ok(ip) = literal {
            if !self.address_allowed(host, ip) {
                return Err(refusal(host));
            }
            if ip.is_loopback() && self.own_ports.contains(&port) {
                return Err(format!("{host}:{port} is this node's own service"));
            }
        } else if self.allow.is_empty() && self.own_ports.contains(&port) && is_local_name(host) {
            return Err(format!("{host}:{port} is this node's own service"));
        }
        Ok(())
    }

    /// Checks `host:port` and every address `host` resolves to.
    #[cfg(any(feature = "redis", feature = "kafka"))]
    pub async fn check_resolved(&self, host: &str, port: u16) -> Result<(), String> {
        self.check_target(host, port)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return Ok(());
        }
        let addresses = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        for address in addresses {
            if !self.address_allowed(host, address.ip()) {
                return Err(refusal(host));
            }
        }
        Ok(())
    }
}

fn refusal(host: &str) -> String {
    format!(
        "{host} is not reachable from this node's resources (the node itself, a private or link-local address, or not in [resources] egress_allow)"
    )
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn full_prefix(ip: IpAddr) -> u32 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// Addresses of private networks: reachable only when listed.
fn is_private(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.is_private() || in_network(IpAddr::V4(v4), [100, 64, 0, 0].into(), 10),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Addresses that reach the node itself or its link.
fn is_the_node(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_the_node(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn parse_entry(entry: &str) -> Result<Allowed, String> {
    let bad = |reason: &str| format!("[resources] egress_allow: {entry:?} {reason}");
    let entry = entry.trim();
    if let Some((net, prefix)) = entry.split_once('/') {
        let net: IpAddr = net.parse().map_err(|_| bad("is not an address/prefix"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| bad("has a bad prefix length"))?;
        return Ok(Allowed::Network(net, prefix));
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(Allowed::Network(ip, if ip.is_ipv4() { 32 } else { 128 }));
    }
    let valid = !entry.is_empty()
        && entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
    if !valid {
        return Err(bad("is not a host name, an address or a CIDR block"));
    }
    Ok(Allowed::Host(entry.to_ascii_lowercase()))
}

/// A resolver that only hands out addresses the policy allows.
#[derive(Clone)]
pub struct PolicyResolver(pub Arc<EgressPolicy>);

type Addresses = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for PolicyResolver {
    type Response = Addresses;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addresses, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| policy.address_allowed(&host, a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    refusal(&host),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> EgressPolicy {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        EgressPolicy::new(&entries, vec![7001]).unwrap()
    }

    #[test]
    fn by_default_the_node_itself_is_out_of_reach() {
        let open = policy(&[]);
        for ip in [
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "0.0.0.0",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!open.address_allowed("h", ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2001:db8::1"] {
            assert!(open.address_allowed("h", ip.parse().unwrap()), "{ip}");
        }
        // Private ranges only when listed.
        for ip in [
            "10.1.2.3",
            "172.17.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!open.address_allowed("h", ip.parse().unwrap()), "{ip}");
        }
        assert!(open.check_target("127.0.0.1", 80).is_err());
        assert!(open.check_target("[::1]", 80).is_err());
        assert!(open.check_target("localhost", 7001).is_err());
        assert!(open.check_target("example.com", 80).is_ok());
    }

    #[test]
    fn an_allowlist_names_everything_reachable() {
        let strict = policy(&["10.0.0.0/8", "api.example.com", "127.0.0.1"]);
        assert!(strict.address_allowed("x", "10.200.0.1".parse().unwrap()));
        assert!(!strict.address_allowed("x", "11.0.0.1".parse().unwrap()));
        assert!(strict.address_allowed("API.example.com.", "11.0.0.1".parse().unwrap()));
        assert!(strict.address_allowed("x", "127.0.0.1".parse().unwrap()));
        assert!(!strict.address_allowed("x", "127.0.0.2".parse().unwrap()));
        assert!(strict.check_target("127.0.0.1", 8080).is_ok());
        assert!(strict.check_target("127.0.0.1", 7001).is_err(), "own port");
    }

    #[test]
    fn the_nodes_own_interface_addresses_are_out_of_reach_unless_listed_alone() {
        let own: IpAddr = "10.0.0.11".parse().unwrap();
        let public_own: IpAddr = "203.0.113.7".parse().unwrap();
        let open = EgressPolicy::with_own_addresses(&[], vec![], vec![own, public_own]).unwrap();
        assert!(
            !open.address_allowed("h", public_own),
            "eth0 with a public address"
        );
        let block = vec!["10.0.0.0/8".to_string()];
        let through_block = EgressPolicy::with_own_addresses(&block, vec![], vec![own]).unwrap();
        assert!(!through_block.address_allowed("h", own));
        assert!(through_block.address_allowed("h", "10.0.0.12".parse().unwrap()));
        let alone = vec!["10.0.0.11".to_string()];
        let listed = EgressPolicy::with_own_addresses(&alone, vec![], vec![own]).unwrap();
        assert!(listed.address_allowed("h", own));
        // The real policy knows this machine's interfaces.
        let real = EgressPolicy::new(&["0.0.0.0/0".to_string()], vec![]).unwrap();
        for interface in if_addrs::get_if_addrs().unwrap() {
            if interface.ip().is_ipv4() && !interface.ip().is_loopback() {
                assert!(!real.address_allowed("h", interface.ip()), "{interface:?}");
            }
        }
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.0.0.0/33", "not a host", "1.2.3.4/x", ""] {
            let error = EgressPolicy::new(&[bad.to_string()], vec![]).unwrap_err();
            assert!(error.contains("egress_allow"), "{bad}: {error}");
        }
    }
}
