//! A cluster over three "hosts" without a lab: each daemon in a network
//! namespace of its own with its own address (`edgeless_tests::lab`),
//! listening on 0.0.0.0 and announcing the address the others reach, TLS on
//! every link, nothing on 127.0.0.1. Ping-pong runs across the two node
//! hosts, the node running pong is killed and pong comes back on the other,
//! and the controller is killed and restarted with its default data_dir
//! without losing the workflow.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use edgeless_tests::lab::{Lab, require_netns};
use edgeless_tests::{Daemon, bin, build_function, count, eventually, example};

const CONTROLLER: usize = 0;

/// The daemons, then the lab (fields drop in order: processes first).
struct Cluster {
    controller: Daemon,
    _orchestrator: Daemon,
    nodes: Vec<Daemon>,
    dir: tempfile::TempDir,
    lab: Lab,
}

fn tls(dir: &Path, name: &str) -> String {
    let certs = dir.join("certs");
    format!(
        "[tls]\nca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.join("ca.pem").display(),
        certs.join(format!("{name}.pem")).display(),
        certs.join(format!("{name}.key")).display()
    )
}

fn write(dir: &Path, file: &str, text: String) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

impl Cluster {
    /// Controller and orchestrator on host 0, a node on each of hosts 1
    /// and 2.
    fn start() -> Self {
        let lab = Lab::new(3);
        let dir = tempfile::tempdir().unwrap();
        let hosts: Vec<&str> = lab.hosts.iter().map(|h| h.address.as_str()).collect();
        let generated = std::process::Command::new(bin("edgeless_cli"))
            .args(["tls", "generate"])
            .arg(dir.path().join("certs"))
            .args(["--names", "controller,orchestrator,node-1,node-2,cli"])
            .args(["--hosts", &hosts.join(",")])
            .output()
            .unwrap();
        assert!(generated.status.success(), "{generated:?}");
        let ctl = &lab.hosts[CONTROLLER].address;
        let d = dir.path();
        // No data_dir: the default (under the daemon's XDG_STATE_HOME).
        let controller_config = write(
            d,
            "controller.toml",
            format!(
                "controller_url = \"https://0.0.0.0:7001\"\ndomain_register_url = \"https://0.0.0.0:7002\"\ndashboard_url = \"\"\n{}",
                tls(d, "controller")
            ),
        );
        let orchestrator_config = write(
            d,
            "orchestrator.toml",
            format!(
                "[general]\ndomain_id = \"lab\"\ndomain_register_url = \"https://{ctl}:7002\"\norchestrator_url = \"https://0.0.0.0:7003\"\nnode_register_url = \"https://0.0.0.0:7004\"\nsubscription_refresh_interval_sec = 1\n[baseline]\norchestration_strategy = \"RoundRobin\"\n{}",
                tls(d, "orchestrator")
            ),
        );
        write(
            d,
            "cli.toml",
            format!("controller_url = \"https://{ctl}:7001\"\n{}", tls(d, "cli")),
        );
        let netns = |index: usize| Some(lab.hosts[index].netns.as_str());
        let controller = Daemon::start_in(
            netns(CONTROLLER),
            "controller",
            "edgeless_con_d",
            &controller_config,
            d.join("controller.log"),
        );
        let orchestrator = Daemon::start_in(
            netns(CONTROLLER),
            "orchestrator",
            "edgeless_orc_d",
            &orchestrator_config,
            d.join("orchestrator.log"),
        );
        let nodes = (1..=2)
            .map(|index| {
                let config = write(
                    d,
                    &format!("node{index}.toml"),
                    format!(
                        "[general]\nagent_url = \"https://0.0.0.0:7005\"\ninvocation_url = \"https://0.0.0.0:7006\"\nnode_register_url = \"https://{ctl}:7004\"\nsubscription_refresh_interval_sec = 1\n{}",
                        tls(d, &format!("node-{index}"))
                    ),
                );
                Daemon::start_in(
                    netns(index),
                    &format!("node {index}"),
                    "edgeless_node_d",
                    &config,
                    d.join(format!("node{index}.log")),
                )
            })
            .collect();
        let cluster = Self {
            controller,
            _orchestrator: orchestrator,
            nodes,
            dir,
            lab,
        };
        cluster.wait_for(Duration::from_secs(30), "both nodes in the domain", |c| {
            c.domain_nodes() == Some(2)
        });
        cluster
    }

    /// `edgeless_cli -c cli.toml ARGS`, on the controller's host.
    fn cli(&self, args: &[&str]) -> Output {
        self.lab
            .command(CONTROLLER, &bin("edgeless_cli"))
            .arg("-c")
            .arg(self.dir.path().join("cli.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "edgeless_cli {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn domain_nodes(&self) -> Option<u64> {
        let listing = self.cli(&["domain", "list", "-o", "json"]);
        let domains: serde_json::Value = serde_json::from_slice(&listing.stdout).ok()?;
        domains
            .as_array()?
            .iter()
            .find(|d| d["domain_id"] == "lab")?["num_nodes"]
            .as_u64()
    }

    fn logs(&self) -> String {
        let mut all = format!("----- controller -----\n{}", self.controller.log());
        all.push_str(&format!(
            "----- orchestrator -----\n{}",
            self._orchestrator.log()
        ));
        for (index, node) in self.nodes.iter().enumerate() {
            all.push_str(&format!("----- node {} -----\n{}", index + 1, node.log()));
        }
        all
    }

    fn wait_for(&self, timeout: Duration, what: &str, mut check: impl FnMut(&Self) -> bool) {
        if !eventually(timeout, || check(self)) {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.logs()
            );
        }
    }
}

#[test]
#[cfg_attr(skip_netns, ignore = "EDGELESS_TEST_SKIP=netns")]
fn a_cluster_over_three_hosts_survives_a_node_and_a_controller_restart() {
    require_netns();
    build_function("ping");
    build_function("pong");
    let mut cluster = Cluster::start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    // Round robin: ping on one node host, pong on the other.
    cluster.wait_for(Duration::from_secs(30), "pongs across the hosts", |c| {
        c.nodes
            .iter()
            .any(|n| count(&n.log(), "answered PONG") >= 2)
    });
    let pong_host = (0..2)
        .find(|&i| cluster.nodes[i].log().contains("pong: PING"))
        .expect("a node runs pong");
    let ping_host = 1 - pong_host;
    assert!(
        !cluster.nodes[ping_host].log().contains("pong: PING"),
        "ping and pong run on different hosts"
    );
    // Every link is TLS between the hosts' own addresses.
    let orchestrator = cluster._orchestrator.log();
    assert!(orchestrator.contains("https://10.77.0."), "{orchestrator}");

    cluster.nodes[pong_host].kill();
    let killed = Instant::now();
    let answered = count(&cluster.nodes[ping_host].log(), "answered PONG");
    cluster.wait_for(
        Duration::from_secs(30),
        "pong re-created on the surviving host",
        |c| {
            let log = c.nodes[ping_host].log();
            log.contains("pong: PING") && count(&log, "answered PONG") > answered
        },
    );
    eprintln!(
        "node killed → pong answering again from the other host: {:?}",
        killed.elapsed()
    );

    // The controller keeps its state by default.
    cluster.controller.kill();
    cluster.controller = Daemon::start_in(
        Some(&cluster.lab.hosts[CONTROLLER].netns),
        "controller (restarted)",
        "edgeless_con_d",
        &cluster.dir.path().join("controller.toml"),
        cluster.dir.path().join("controller-restarted.log"),
    );
    cluster.wait_for(
        Duration::from_secs(30),
        "the workflow checked after the restart",
        |c| c.controller.log().contains("saved workflow still runs"),
    );
    let listed = cluster.cli_ok(&["workflow", "list", "-o", "json"]);
    assert!(listed.contains(&workflow), "{listed}");
    let log = cluster.controller.log();
    assert!(!log.contains("deployed again"), "{log}");
    assert!(!log.contains("stopping components"), "{log}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// The instances of component `name` of `workflow` (`node/function` ids).
fn instances_of(cluster: &Cluster, workflow: &str, name: &str) -> Vec<String> {
    let inspect = cluster.cli_ok(&["workflow", "inspect", workflow, "-o", "json"]);
    let value: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    value["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == name)
        .flat_map(|c| c["instances"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i.as_str().map(str::to_string))
        .collect()
}

#[test]
#[cfg_attr(skip_netns, ignore = "EDGELESS_TEST_SKIP=netns")]
fn a_node_cut_off_the_network_is_replaced_and_rejoins_clean() {
    require_netns();
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(30), "pongs across the hosts", |c| {
        c.nodes
            .iter()
            .any(|n| count(&n.log(), "answered PONG") >= 2)
    });
    let pong_node = (0..2)
        .find(|&i| cluster.nodes[i].log().contains("pong: PING"))
        .expect("a node runs pong");
    let ping_node = 1 - pong_node;
    // Node index i runs on host i + 1.
    cluster.lab.cut(pong_node + 1);
    let cut = Instant::now();
    let answered = count(&cluster.nodes[ping_node].log(), "answered PONG");
    cluster.wait_for(
        Duration::from_secs(30),
        "pong re-created beside ping",
        |c| {
            let log = c.nodes[ping_node].log();
            log.contains("pong: PING") && count(&log, "answered PONG") > answered
        },
    );
    eprintln!(
        "link cut → pong answering again from the other host: {:?}",
        cut.elapsed()
    );
    cluster.lab.heal(pong_node + 1);
    cluster.wait_for(
        Duration::from_secs(30),
        "the cut node back in the domain",
        |c| c.domain_nodes() == Some(2),
    );
    // It came back empty: the orchestrator reset it, so pong runs once.
    let stale = count(&cluster.nodes[pong_node].log(), "pong: PING");
    let answered = count(&cluster.nodes[ping_node].log(), "answered PONG");
    cluster.wait_for(
        Duration::from_secs(20),
        "more pongs after the rejoin",
        |c| count(&c.nodes[ping_node].log(), "answered PONG") >= answered + 3,
    );
    assert_eq!(
        count(&cluster.nodes[pong_node].log(), "pong: PING"),
        stale,
        "the rejoined node still answers pings"
    );
    let pongs = instances_of(&cluster, &workflow, "ponger");
    assert_eq!(pongs.len(), 1, "{pongs:?}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
