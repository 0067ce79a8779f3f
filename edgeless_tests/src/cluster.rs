//! A controller with one or more domains of real daemon processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::{Daemon, bin, eventually, pin_ports};

mod builder;
mod domain;

pub use builder::ClusterBuilder;
pub use domain::Domain;
use domain::{config_sections, grpc_url, start_domain, tls_section};

/// A running cluster: a controller and one or more domains.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// The controller's workflow API (what the CLI talks to).
    pub controller_url: String,
    /// Where orchestrators register at the controller.
    pub domain_register_url: String,
    /// The first domain's orchestrator API.
    pub orchestrator_url: String,
    /// Where the first domain's nodes register.
    pub node_register_url: String,
    /// The first domain's id.
    pub domain_id: String,
    /// The controller.
    pub controller: Daemon,
    /// The first domain's orchestrator.
    pub orchestrator: Daemon,
    /// The first domain's nodes.
    pub nodes: Vec<Daemon>,
    /// The first domain's node ids, in the order of `nodes`.
    pub node_ids: Vec<String>,
    /// The first domain's node configuration files.
    pub node_configs: Vec<PathBuf>,
    /// Domains added with [`Cluster::add_domain`].
    pub domains: Vec<Domain>,
    /// The first node's HTTP ingress URL, with [`ClusterBuilder::resources`].
    pub http_ingress_url: Option<String>,
    /// The first domain's invocation (dataplane) URLs.
    pub invocation_urls: Vec<String>,
    /// The first domain's agent URLs.
    pub agent_urls: Vec<String>,
    /// The first domain's ε-BAL, with [`ClusterBuilder::balancer`].
    pub balancer: Option<Daemon>,
    /// Its nodes run containers (removed when the cluster is dropped).
    containers: bool,
}

impl Drop for Cluster {
    /// Nodes are killed, not stopped; what containers they ran go with them.
    fn drop(&mut self) {
        if !self.containers {
            return;
        }
        for node in &mut self.nodes {
            node.kill();
        }
        for node_id in &self.node_ids {
            for container in crate::docker::containers_of(node_id) {
                let _ = Command::new("docker")
                    .args(["rm", "-f", &container])
                    .output();
            }
        }
    }
}

impl Cluster {
    /// A builder.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn start(options: ClusterBuilder) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let orchestrators: Vec<String> = (0..domain::MAX_DOMAINS)
            .map(domain::orchestrator_identity)
            .collect();
        if options.tls {
            let names = format!("controller,{},node,cli,balancer", orchestrators.join(","));
            for (certs, names) in [("certs", names.as_str()), ("certs-other", "other")] {
                let output = Command::new(bin("edgeless_cli"))
                    .args(["tls", "generate"])
                    .arg(dir.path().join(certs))
                    .args(["--names", names])
                    .output()
                    .expect("edgeless_cli runs");
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        if options.tokens {
            let names = ["controller", "node", "balancer", "cli", "admin:admin"]
                .into_iter()
                .map(String::from)
                .chain(orchestrators.iter().cloned());
            for name in names {
                let name = name.as_str();
                let token = create_token(&dir.path().join("tokens.toml"), name, "default");
                let file = name.rsplit(':').next().unwrap_or(name);
                std::fs::write(dir.path().join(format!("{file}.token")), token)
                    .expect("token written");
            }
        }
        let controller_config = dir.path().join("controller.toml");
        // Persistent: the default data_dir (under the daemon's
        // XDG_STATE_HOME, see `Daemon::start`); else nothing kept.
        let data_dir = if options.persistent {
            String::new()
        } else {
            "data_dir = \"\"\n".to_string()
        };
        std::fs::write(
            &controller_config,
            format!(
                "controller_url = \"{}\"\ndomain_register_url = \"{}\"\ndashboard_url = \"http://127.0.0.1:0\"\n{data_dir}{}",
                grpc_url(&options, 0),
                grpc_url(&options, 0),
                config_sections(&options, dir.path(), "controller")
            ),
        )
        .expect("config written");
        let mut controller = Daemon::start(
            "controller",
            "edgeless_con_d",
            &controller_config,
            dir.path().join("controller.log"),
        );
        let listening = controller.listening();
        pin_ports(&controller_config, &listening);
        let domain_register_url = listening["domain_register_url"].clone();
        std::fs::write(
            dir.path().join("cli.toml"),
            format!(
                "controller_url = \"{}\"\n{}{}",
                listening["controller_url"],
                if options.tokens {
                    format!(
                        "token_file = \"{}\"\n",
                        dir.path().join("cli.token").display()
                    )
                } else {
                    String::new()
                },
                tls_section(&options, dir.path(), "cli")
            ),
        )
        .expect("config written");
        let first = start_domain(dir.path(), &domain_register_url, &options, 0);
        let cluster = Self {
            domain_id: first.id.clone(),
            controller_url: listening["controller_url"].clone(),
            domain_register_url,
            orchestrator_url: first.orchestrator_url.clone(),
            node_register_url: first.node_register_url.clone(),
            controller,
            orchestrator: first.orchestrator,
            nodes: first.nodes,
            node_ids: first.node_ids,
            node_configs: first.node_configs,
            http_ingress_url: first.http_ingress_url,
            invocation_urls: first.invocation_urls,
            agent_urls: first.agent_urls,
            balancer: first.balancer,
            domains: Vec::new(),
            containers: options.containers,
            dir,
        };
        cluster.wait_for_domain(&first.id, options.nodes.max(1));
        cluster
    }

    /// Creates a token (`ROLE:NAME` or `NAME`) of `tenant` in the cluster's
    /// tokens file; the daemons take it within a second.
    pub fn create_token(&self, name: &str, tenant: &str) -> String {
        create_token(&self.dir.path().join("tokens.toml"), name, tenant)
    }

    /// Starts another orchestrator with its nodes, registering at the same
    /// controller, and waits until its nodes have joined.
    pub fn add_domain(&mut self, options: ClusterBuilder) -> &Domain {
        let domain = start_domain(
            self.dir.path(),
            &self.domain_register_url,
            &options,
            self.domains.len() + 1,
        );
        self.wait_for_domain(&domain.id, options.nodes.max(1));
        self.domains.push(domain);
        self.domains.last().expect("just added")
    }

    fn wait_for_domain(&self, id: &str, nodes: usize) {
        self.wait_for(
            Duration::from_secs(30),
            &format!("domain {id} with {nodes} nodes to register"),
            |c| c.domain_nodes(id) == Some(nodes as u64),
        );
    }

    /// How many nodes domain `id` has, as `domain list -o json` says.
    pub fn domain_nodes(&self, id: &str) -> Option<u64> {
        let listing = self.cli(&["domain", "list", "-o", "json"]).stdout_text();
        let domains: serde_json::Value = serde_json::from_str(&listing).ok()?;
        domains.as_array()?.iter().find(|d| d["domain_id"] == id)?["num_nodes"].as_u64()
    }

    /// The ids of the running workflows (`workflow list -o json`).
    pub fn workflow_ids(&self) -> Vec<String> {
        let listing = self.cli_ok(&["workflow", "list", "-o", "json"]);
        let rows: serde_json::Value = serde_json::from_str(&listing).expect("a JSON list");
        rows.as_array()
            .expect("a JSON list")
            .iter()
            .map(|w| w["workflow_id"].as_str().expect("an id").to_string())
            .collect()
    }

    /// Starts node `index` of the first domain again (after a kill).
    pub fn restart_node(&mut self, index: usize) {
        let log = self.dir.path().join(format!("node{index}-restarted.log"));
        self.nodes[index] = Daemon::start(
            &format!("node{index}"),
            "edgeless_node_d",
            &self.node_configs[index],
            log,
        );
    }

    /// The folder of the cluster's configuration files, logs and certificates.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the controller again (after [`Daemon::kill`]), with the same
    /// configuration.
    pub fn restart_controller(&mut self) {
        self.controller = Daemon::start(
            "controller (restarted)",
            "edgeless_con_d",
            &self.dir.path().join("controller.toml"),
            self.dir.path().join("controller-restarted.log"),
        );
    }

    /// Starts the first domain's orchestrator again (after [`Daemon::kill`]),
    /// with the same configuration.
    pub fn restart_orchestrator(&mut self) {
        self.orchestrator = Daemon::start(
            "orchestrator (restarted)",
            "edgeless_orc_d",
            &self.dir.path().join("orchestrator0.toml"),
            self.dir.path().join("orchestrator0-restarted.log"),
        );
    }

    /// Runs `edgeless_cli -c cli.toml ARGS`.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(self.dir.path().join("cli.toml"))
            .args(args)
            .output()
            .expect("edgeless_cli runs");
        CliOutput(output)
    }

    /// Runs `edgeless_cli -c cli.toml ARGS` presenting `token`
    /// (`EDGELESS_TOKEN`) instead of the configured one.
    pub fn cli_as(&self, token: &str, args: &[&str]) -> CliOutput {
        let output = Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(self.dir.path().join("cli.toml"))
            .args(args)
            .env("EDGELESS_TOKEN", token)
            .output()
            .expect("edgeless_cli runs");
        CliOutput(output)
    }

    /// `workflow start ARGS` must be refused by the cluster (exit 1) with
    /// `reason` on stderr.
    pub fn start_refused(&self, args: &[&str], reason: &str) {
        let output = self.cli(&[&["workflow", "start"], args].concat());
        assert_eq!(output.code(), Some(1), "{args:?} was accepted");
        assert!(
            output.stderr_text().contains(reason),
            "{}",
            output.stderr_text()
        );
    }

    /// Runs the CLI and returns its trimmed stdout; panics (with logs) on failure.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        if !output.0.status.success() {
            panic!(
                "edgeless_cli {args:?} failed: {}\n{}",
                output.stderr_text(),
                self.logs()
            );
        }
        output.stdout_text().trim().to_string()
    }

    /// Waits for `check`; panics with every log when it does not happen.
    pub fn wait_for(&self, timeout: Duration, what: &str, mut check: impl FnMut(&Self) -> bool) {
        if !eventually(timeout, || check(self)) {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.logs()
            );
        }
    }

    /// The index of the node with id `node_id` in the first domain.
    pub fn node_index(&self, node_id: &str) -> usize {
        self.node_ids
            .iter()
            .position(|n| n == node_id)
            .expect("a node of this cluster")
    }

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let extra = self
            .domains
            .iter()
            .flat_map(|d| std::iter::once(&d.orchestrator).chain(&d.nodes));
        for daemon in [&self.controller, &self.orchestrator]
            .into_iter()
            .chain(&self.nodes)
            .chain(extra)
        {
            text.push_str(&format!("----- {} -----\n{}\n", daemon.name, daemon.log()));
        }
        text
    }

    /// Every node log of every domain, concatenated.
    pub fn node_logs(&self) -> String {
        let extra = self.domains.iter().flat_map(|d| &d.nodes);
        self.nodes.iter().chain(extra).map(|n| n.log()).collect()
    }

    /// Waits until every node of the first domain reports, itself, that it
    /// runs no instance (its health at a refresh), and the orchestrator
    /// lists no component: nothing of a stopped workflow can act any more.
    pub fn wait_until_idle(&self) {
        self.wait_for(Duration::from_secs(20), "every node to run nothing", |c| {
            let view = c.cli(&["domain", "view", &c.domain_id, "-o", "json"]);
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&view.stdout_text()) else {
                return false;
            };
            let nodes = value["nodes"].as_array().cloned().unwrap_or_default();
            nodes.len() == c.nodes.len()
                && nodes.iter().all(|n| n["instances"] == 0)
                && value["components"].as_array().is_some_and(Vec::is_empty)
        });
    }

    /// `workflow inspect -o json`, parsed.
    pub fn inspect(&self, workflow_id: &str) -> serde_json::Value {
        let json = self.cli_ok(&["workflow", "inspect", workflow_id, "-o", "json"]);
        serde_json::from_str(&json).expect("inspect prints JSON")
    }

    /// Casts each of `payloads`, in order, to the first instance of the
    /// workflow's first component, as an administrator (`edgeless_cli
    /// function invoke cast` through the first node's invocation URL).
    pub fn cast_to_first_instance(
        &self,
        workflow_id: &str,
        payloads: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        let value = self.inspect(workflow_id);
        let instance = value["components"][0]["instances"][0]
            .as_str()
            .expect("an instance id");
        let (node, function) = instance.split_once('/').expect("node/function");
        for payload in payloads {
            self.cli_ok(&[
                "function",
                "invoke",
                "cast",
                &self.invocation_urls[0],
                node,
                function,
                payload.as_ref(),
            ]);
        }
    }

    /// The instances of each component of a workflow: name → [(node id, function id)].
    pub fn instances(&self, workflow_id: &str) -> Vec<(String, Vec<(String, String)>)> {
        let value = self.inspect(workflow_id);
        value["components"]
            .as_array()
            .expect("a list of components")
            .iter()
            .map(|c| {
                let instances = c["instances"]
                    .as_array()
                    .expect("instances")
                    .iter()
                    .map(|i| {
                        let (node, function) = i.as_str().unwrap().split_once('/').unwrap();
                        (node.to_string(), function.to_string())
                    })
                    .collect();
                (c["name"].as_str().unwrap().to_string(), instances)
            })
            .collect()
    }

    /// The nodes of one component: name → node ids of its instances.
    pub fn nodes_of(&self, workflow_id: &str, component: &str) -> Vec<String> {
        self.instances(workflow_id)
            .into_iter()
            .find(|(name, _)| name == component)
            .map(|(_, list)| list.into_iter().map(|(node, _)| node).collect())
            .unwrap_or_default()
    }
}

/// What the CLI printed and how it exited.
pub struct CliOutput(pub Output);

impl CliOutput {
    /// The exit code.
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    /// Stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    /// Stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// `edgeless_cli token create --file FILE --tenant TENANT NAME`; the token.
fn create_token(file: &Path, name: &str, tenant: &str) -> String {
    let output = Command::new(bin("edgeless_cli"))
        .args(["token", "create", "--file"])
        .arg(file)
        .args(["--tenant", tenant, name])
        .output()
        .expect("edgeless_cli runs");
    assert!(
        output.status.success(),
        "token create {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
