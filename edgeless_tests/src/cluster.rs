//! A controller with one or more domains of real daemon processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::{Daemon, bin, eventually, free_port};

/// Options of a cluster.
#[derive(Default, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    round_robin: bool,
    labels: Vec<Vec<String>>,
    refresh_sec: Option<u64>,
    redis_url: Option<String>,
    domain_id: Option<String>,
    resources: bool,
    ollama_port: Option<u16>,
    metrics_redis: Option<String>,
    max_restarts: Option<u32>,
    containers: bool,
    persistent: bool,
    tls: bool,
    /// Node index → the port its dataplane URL is announced on.
    announced_invocation: Vec<(usize, u16)>,
}

impl ClusterBuilder {
    /// The number of nodes (default 1).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// Place instances round-robin (so two functions land on two nodes).
    pub fn round_robin(mut self) -> Self {
        self.round_robin = true;
        self
    }

    /// Labels of node `index`.
    pub fn labels(mut self, index: usize, labels: &[&str]) -> Self {
        if self.labels.len() <= index {
            self.labels.resize(index + 1, Vec::new());
        }
        self.labels[index] = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    /// The registration period of nodes and orchestrators (default 1 s);
    /// leases are two periods.
    pub fn refresh_sec(mut self, seconds: u64) -> Self {
        self.refresh_sec = Some(seconds);
        self
    }

    /// Mirror the orchestrator's state to this Redis server.
    pub fn redis(mut self, url: &str) -> Self {
        self.redis_url = Some(url.to_string());
        self
    }

    /// Let the first node host one resource provider of each kind
    /// (`http-ingress-1` on [`Domain::http_ingress_url`], `http-egress-1`,
    /// `file-log-1`, `redis-1`).
    pub fn resources(mut self) -> Self {
        self.resources = true;
        self
    }

    /// Give the controller and the orchestrators a data directory, so their
    /// state survives [`Cluster::restart_controller`] and
    /// [`Cluster::restart_orchestrator`].
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// Announce node `index`'s dataplane to its peers on `port` (where the
    /// test runs a proxy, e.g. to cut or slow the link) instead of its own.
    pub fn announce_invocation(mut self, index: usize, port: u16) -> Self {
        self.announced_invocation.push((index, port));
        self
    }

    /// Run every gRPC link over TLS with mutual authentication, with
    /// certificates from `edgeless_cli tls generate` (names `controller`,
    /// `orchestrator`, `node`, `cli`, and `other` from another CA in
    /// `certs-other/`).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Enable the container runtime on every node (Docker on its default
    /// socket; containers must be ready within 5 s).
    pub fn containers(mut self) -> Self {
        self.containers = true;
        self
    }

    /// With [`ClusterBuilder::resources`]: also host `ollama-1`, talking to
    /// an Ollama server on this loopback port.
    pub fn ollama(mut self, port: u16) -> Self {
        self.ollama_port = Some(port);
        self
    }

    /// With [`ClusterBuilder::resources`]: also host `metrics-collector-1`,
    /// writing to this Redis server.
    pub fn metrics_collector(mut self, redis_url: &str) -> Self {
        self.metrics_redis = Some(redis_url.to_string());
        self
    }

    /// How often the orchestrator restarts a failing instance.
    pub fn max_restarts(mut self, restarts: u32) -> Self {
        self.max_restarts = Some(restarts);
        self
    }

    /// The domain's id (default `domain-test`).
    pub fn domain_id(mut self, id: &str) -> Self {
        self.domain_id = Some(id.to_string());
        self
    }

    /// Starts the processes and waits until every node has joined.
    pub fn start(self) -> Cluster {
        Cluster::start(self)
    }
}

/// An orchestrator and its nodes.
pub struct Domain {
    /// The domain's id.
    pub id: String,
    /// The orchestrator.
    pub orchestrator: Daemon,
    /// The orchestrator's API URL.
    pub orchestrator_url: String,
    /// The nodes.
    pub nodes: Vec<Daemon>,
    /// The nodes' ids, in the order of `nodes`.
    pub node_ids: Vec<String>,
    /// The nodes' configuration files (to restart them).
    pub node_configs: Vec<PathBuf>,
    /// The first node's HTTP ingress URL, with [`ClusterBuilder::resources`].
    pub http_ingress_url: Option<String>,
    /// The nodes' invocation (dataplane) URLs.
    pub invocation_urls: Vec<String>,
}

/// A running cluster: a controller and one or more domains.
pub struct Cluster {
    dir: tempfile::TempDir,
    domain_register_url: String,
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

/// The URL of a gRPC service: https with [`ClusterBuilder::tls`].
fn grpc_url(options: &ClusterBuilder, port: u16) -> String {
    let scheme = if options.tls { "https" } else { "http" };
    format!("{scheme}://127.0.0.1:{port}")
}

/// The `[tls]` section of a component's configuration, with
/// [`ClusterBuilder::tls`].
fn tls_section(options: &ClusterBuilder, dir: &Path, name: &str) -> String {
    if !options.tls {
        return String::new();
    }
    let certs = dir.join("certs");
    format!(
        "[tls]\nca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        certs.join("ca.pem").display(),
        certs.join(format!("{name}.pem")).display(),
        certs.join(format!("{name}.key")).display()
    )
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl Cluster {
    /// A builder.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn start(options: ClusterBuilder) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if options.tls {
            for (certs, names) in [
                ("certs", "controller,orchestrator,node,cli"),
                ("certs-other", "other"),
            ] {
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
        let (workflow_port, domain_port) = (free_port(), free_port());
        let controller_config = dir.path().join("controller.toml");
        let data_dir = if options.persistent {
            format!(
                "data_dir = \"{}\"\n",
                dir.path().join("controller-data").display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &controller_config,
            format!(
                "controller_url = \"{}\"\ndomain_register_url = \"{}\"\n{data_dir}{}",
                grpc_url(&options, workflow_port),
                grpc_url(&options, domain_port),
                tls_section(&options, dir.path(), "controller")
            ),
        )
        .expect("config written");
        std::fs::write(
            dir.path().join("cli.toml"),
            format!(
                "controller_url = \"{}\"\n{}",
                grpc_url(&options, workflow_port),
                tls_section(&options, dir.path(), "cli")
            ),
        )
        .expect("config written");
        let controller = Daemon::start(
            "controller",
            "edgeless_con_d",
            &controller_config,
            dir.path().join("controller.log"),
        );
        let first = start_domain(dir.path(), &grpc_url(&options, domain_port), &options, 0);
        let cluster = Self {
            domain_register_url: grpc_url(&options, domain_port),
            controller,
            orchestrator: first.orchestrator,
            nodes: first.nodes,
            node_ids: first.node_ids,
            node_configs: first.node_configs,
            http_ingress_url: first.http_ingress_url,
            invocation_urls: first.invocation_urls,
            domains: Vec::new(),
            containers: options.containers,
            dir,
        };
        cluster.wait_for_domain(&first.id, options.nodes.max(1));
        cluster
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
        let expected = format!("domain {id} ({nodes} nodes)");
        self.wait_for(
            Duration::from_secs(30),
            &format!("{expected} to register"),
            |c| c.cli(&["domain", "list"]).stdout_text().contains(&expected),
        );
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

    /// `workflow inspect -o json`, parsed.
    pub fn inspect(&self, workflow_id: &str) -> serde_json::Value {
        let json = self.cli_ok(&["workflow", "inspect", workflow_id, "-o", "json"]);
        serde_json::from_str(&json).expect("inspect prints JSON")
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

/// Starts an orchestrator and its nodes; `index` keeps node ids and files apart.
fn start_domain(
    dir: &Path,
    domain_register_url: &str,
    options: &ClusterBuilder,
    index: usize,
) -> Domain {
    let id = options.domain_id.clone().unwrap_or_else(|| {
        if index == 0 {
            "domain-test".to_string()
        } else {
            format!("domain-test-{index}")
        }
    });
    let refresh = options.refresh_sec.unwrap_or(1);
    let (orc_port, register_port) = (free_port(), free_port());
    let strategy = if options.round_robin {
        "RoundRobin"
    } else {
        "Random"
    };
    let proxy = match &options.redis_url {
        Some(redis) => format!("[proxy]\nproxy_type = \"Redis\"\nredis_url = \"{redis}\"\n"),
        None => String::new(),
    };
    let orc_config = dir.join(format!("orchestrator{index}.toml"));
    let data_dir = if options.persistent {
        format!(
            "data_dir = \"{}\"\n",
            dir.join(format!("orchestrator{index}-data")).display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &orc_config,
        format!(
            "[general]\ndomain_register_url = \"{domain_register_url}\"\nsubscription_refresh_interval_sec = {refresh}\n\
             domain_id = \"{id}\"\norchestrator_url = \"{}\"\nnode_register_url = \"{}\"\nmax_restarts = {}\n{data_dir}\
             [baseline]\norchestration_strategy = \"{strategy}\"\n{proxy}{}",
            grpc_url(options, orc_port),
            grpc_url(options, register_port),
            options.max_restarts.unwrap_or(5),
            tls_section(options, dir, "orchestrator")
        ),
    )
    .expect("config written");
    let orchestrator = Daemon::start(
        &format!("orchestrator {id}"),
        "edgeless_orc_d",
        &orc_config,
        dir.join(format!("orchestrator{index}.log")),
    );
    let mut domain = Domain {
        id,
        orchestrator,
        orchestrator_url: grpc_url(options, orc_port),
        nodes: Vec::new(),
        node_ids: Vec::new(),
        node_configs: Vec::new(),
        http_ingress_url: None,
        invocation_urls: Vec::new(),
    };
    for i in 0..options.nodes.max(1) {
        // Unique per cluster: nodes clean up containers labelled with their id.
        let node_id = format!(
            "{:08x}-0000-4000-8000-{:06x}{:06x}",
            rand::random::<u32>(),
            index,
            i + 1
        );
        let labels = options.labels.get(i).cloned().unwrap_or_default();
        let labels = labels
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let path = dir.join(format!("node{index}-{i}.toml"));
        let invocation = grpc_url(options, free_port());
        domain.invocation_urls.push(invocation.clone());
        let mut resources = String::new();
        let announced = options
            .announced_invocation
            .iter()
            .find(|(node, _)| *node == i)
            .map(|(_, port)| {
                format!(
                    "invocation_url_announced = \"{}\"\n",
                    grpc_url(options, *port)
                )
            })
            .unwrap_or_default();
        if options.resources && i == 0 {
            let ingress = url(free_port());
            resources = format!(
                "[resources]\nhttp_ingress_url = \"{ingress}\"\nhttp_ingress_provider = \"http-ingress-1\"\n\
                 http_egress_provider = \"http-egress-1\"\nfile_log_provider = \"file-log-1\"\nredis_provider = \"redis-1\"\n"
            );
            if let Some(port) = options.ollama_port {
                resources.push_str(&format!(
                    "[resources.ollama_provider]\nhost = \"127.0.0.1\"\nport = {port}\nmessages_number_limit = 10\nprovider = \"ollama-1\"\n"
                ));
            }
            if let Some(redis) = &options.metrics_redis {
                resources.push_str(&format!(
                    "[resources.metrics_collector_provider]\ncollector_type = \"Redis\"\nredis_url = \"{redis}\"\nprovider = \"metrics-collector-1\"\n"
                ));
            }
            domain.http_ingress_url = Some(ingress);
        }
        if options.containers {
            resources.push_str("[container_runtime]\nenabled = true\nready_timeout_sec = 5\n");
        }
        // The domain's nodes share one module cache, fresh for each cluster.
        resources.push_str(&format!(
            "[wasm_runtime]\nmodule_cache_dir = \"{}\"\n",
            dir.join("wasm-cache").display()
        ));
        let text = format!(
            "[general]\nnode_id = \"{node_id}\"\nagent_url = \"{}\"\ninvocation_url = \"{}\"\n{announced}\
             node_register_url = \"{}\"\nsubscription_refresh_interval_sec = {refresh}\n\
             [user_node_capabilities]\nlabels = [{labels}]\n{resources}{}",
            grpc_url(options, free_port()),
            invocation,
            grpc_url(options, register_port),
            tls_section(options, dir, "node")
        );
        std::fs::write(&path, text).expect("node config written");
        let log = dir.join(format!("node{index}-{i}.log"));
        domain.nodes.push(Daemon::start(
            &format!("node{i} of {}", domain.id),
            "edgeless_node_d",
            &path,
            log,
        ));
        domain.node_ids.push(node_id);
        domain.node_configs.push(path);
    }
    domain
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
