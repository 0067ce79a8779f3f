//! Several hosts on one machine: each in a Linux network namespace of its
//! own, with one address on a private network (`10.77.0.0/24`), joined by a
//! bridge. The addresses exist only inside the namespaces, so nothing of a
//! lab is reachable on 127.0.0.1 and labs of concurrent tests never meet.
//! Everything is created by [`Lab::new`] and removed on drop. Needs root and
//! `ip` (iproute2).

use std::process::Command;

/// One host of a lab.
pub struct Host {
    /// The namespace's name (for `ip netns exec`).
    pub netns: String,
    /// Its address on the lab's network.
    pub address: String,
}

/// The namespaces, their links and the bridge.
pub struct Lab {
    /// The hosts, in the order asked for.
    pub hosts: Vec<Host>,
    bridge: String,
    /// What names its interfaces and namespaces.
    tag: u32,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) {
    if let Err(error) = run("ip", args) {
        panic!("{error}");
    }
}

/// Panics, naming what is missing, unless namespaces can be made here (root
/// and iproute2). Tests that call it carry
/// `#[cfg_attr(skip_netns, ignore = ...)]`, so that
/// `EDGELESS_TEST_SKIP=netns` reports them as ignored instead.
pub fn require_netns() {
    let probe = format!("edgeless-probe-{}", next_tag());
    let made = run("ip", &["netns", "add", &probe]);
    let _ = run("ip", &["netns", "del", &probe]);
    if let Err(error) = made {
        panic!(
            "network namespaces cannot be made here ({error}): run as root with iproute2 installed, or set EDGELESS_TEST_SKIP=netns to skip the tests that need them"
        );
    }
}

/// A number of five digits at most (interface names have at most 15
/// characters), different for every lab of this machine's test processes
/// running at once: the process id, and a count within the process.
fn next_tag() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let count = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (std::process::id() % 10_000) * 10 + count % 10
}

impl Lab {
    /// `count` hosts, `10.77.0.1` onwards.
    pub fn new(count: usize) -> Self {
        let tag = next_tag();
        let bridge = format!("elbr{tag}");
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let mut lab = Self {
            hosts: Vec::new(),
            bridge,
            tag,
        };
        ip(&["link", "set", &lab.bridge, "up"]);
        // Docker's FORWARD policy drops bridged traffic it does not know of.
        let _ = run(
            "iptables",
            &[
                "-w",
                "-I",
                "FORWARD",
                "-i",
                &lab.bridge,
                "-o",
                &lab.bridge,
                "-j",
                "ACCEPT",
            ],
        );
        for index in 0..count {
            let netns = format!("edgeless-{tag}-{index}");
            let outside = format!("elv{tag}x{index}");
            let inside = format!("elv{tag}y{index}");
            let address = format!("10.77.0.{}", index + 1);
            ip(&["netns", "add", &netns]);
            lab.hosts.push(Host {
                netns: netns.clone(),
                address: address.clone(),
            });
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ]);
            ip(&["link", "set", &inside, "netns", &netns]);
            ip(&["link", "set", &outside, "master", &lab.bridge]);
            ip(&["link", "set", &outside, "up"]);
            ip(&["-n", &netns, "link", "set", &inside, "name", "eth0"]);
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &netns, "link", "set", "eth0", "up"]);
            ip(&["-n", &netns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// Cuts host `index` off the network (its link to the bridge goes
    /// down): a real partition, without `netem`.
    pub fn cut(&self, index: usize) {
        ip(&["link", "set", &self.outside(index), "down"]);
    }

    /// Connects host `index` again.
    pub fn heal(&self, index: usize) {
        ip(&["link", "set", &self.outside(index), "up"]);
    }

    /// The bridge side of host `index`'s link.
    fn outside(&self, index: usize) -> String {
        format!("elv{}x{index}", self.tag)
    }

    /// Runs `program ARGS` in host `index`'s namespace.
    pub fn command(&self, index: usize, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hosts[index].netns])
            .arg(program);
        command
    }
}

impl Drop for Lab {
    /// Removes the namespaces (their links go with them), then the bridge.
    /// Processes still running in a namespace keep it alive but unreachable.
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = run("ip", &["netns", "del", &host.netns]);
        }
        let _ = run(
            "iptables",
            &[
                "-w",
                "-D",
                "FORWARD",
                "-i",
                &self.bridge,
                "-o",
                &self.bridge,
                "-j",
                "ACCEPT",
            ],
        );
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}
