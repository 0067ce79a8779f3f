//! Keeps container functions away from the host's other services. Their
//! network has no route off the host and no traffic between containers, but
//! its gateway is the host: without this, a container could reach every
//! service listening on the host's addresses. Packets from the network's
//! bridge to the host are accepted only for the nodes' host services and as
//! replies to connections the host opened; the rest is rejected.
//!
//! The rules live in the `iptables` chain [`CHAIN`], jumped to from `INPUT`
//! for the bridge; every node on the host inserts an accept rule for its own
//! port and removes it when it stops (rules of nodes that died are removed
//! by the next node that starts: their port no longer answers). This needs
//! root and `iptables`, as Docker does; without them the node says, at
//! start, what stays open.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// The chain of the guests' rules.
pub const CHAIN: &str = "EDGELESS-GUESTS";

/// The accept rule of one node's host service; removed on drop.
pub struct GuestFirewall {
    port: u16,
}

fn iptables(args: &[&str]) -> Result<(), String> {
    let output = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Adds `rule` to `chain` (at the top, or at the end with `append`)
/// unless it is there already.
fn ensure(chain: &str, rule: &[&str], append: bool) -> Result<(), String> {
    if iptables(&[&["-C", chain], rule].concat()).is_ok() {
        return Ok(());
    }
    let position: &[&str] = if append {
        &["-A", chain]
    } else {
        &["-I", chain, "1"]
    };
    iptables(&[position, rule].concat())
}

impl GuestFirewall {
    /// Lets packets from `bridge` reach the host only on TCP `port` (and as
    /// replies). Accept rules go to the top and the reject to the end, so
    /// nodes starting at once still leave them in a working order.
    pub fn open(bridge: &str, gateway: IpAddr, port: u16) -> Result<Self, String> {
        if iptables(&["-L", CHAIN, "-n"]).is_err() {
            // Another node may create it meanwhile: only the result counts.
            let _ = iptables(&["-N", CHAIN]);
        }
        ensure(CHAIN, &["-j", "REJECT"], true)?;
        let replies = [
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "ACCEPT",
        ];
        ensure(CHAIN, &replies, false)?;
        remove_dead(gateway, port);
        let port_text = port.to_string();
        ensure(
            CHAIN,
            &["-p", "tcp", "--dport", &port_text, "-j", "ACCEPT"],
            false,
        )?;
        ensure("INPUT", &["-i", bridge, "-j", CHAIN], false)?;
        Ok(Self { port })
    }
}

/// Removes the accept rules of ports, other than `own`, where nothing
/// listens any more on `gateway` (their node died without removing them).
fn remove_dead(gateway: IpAddr, own: u16) {
    let Ok(output) = Command::new("iptables").args(["-w", "-S", CHAIN]).output() else {
        return;
    };
    let rules = String::from_utf8_lossy(&output.stdout);
    let ports = rules.lines().filter_map(|rule| {
        let (_, rest) = rule.split_once("--dport ")?;
        rest.split_whitespace().next()?.parse::<u16>().ok()
    });
    for port in ports.filter(|p| *p != own) {
        let address = SocketAddr::new(gateway, port);
        let refused = TcpStream::connect_timeout(&address, Duration::from_millis(300))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
        if refused {
            let port = port.to_string();
            let _ = iptables(&["-D", CHAIN, "-p", "tcp", "--dport", &port, "-j", "ACCEPT"]);
        }
    }
}

impl Drop for GuestFirewall {
    fn drop(&mut self) {
        let port = self.port.to_string();
        let _ = iptables(&["-D", CHAIN, "-p", "tcp", "--dport", &port, "-j", "ACCEPT"]);
    }
}
