//! One domain of a test cluster: an orchestrator and its nodes, each a
//! daemon process with a configuration file written for it.

use std::path::{Path, PathBuf};

use super::ClusterBuilder;
use crate::{Daemon, pin_ports};

/// An orchestrator and its nodes.
pub struct Domain {
    /// The domain's id.
    pub id: String,
    /// The orchestrator.
    pub orchestrator: Daemon,
    /// The orchestrator's API URL.
    pub orchestrator_url: String,
    /// Where its nodes register.
    pub node_register_url: String,
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
    /// The nodes' agent URLs.
    pub agent_urls: Vec<String>,
    /// Its ε-BAL, with [`ClusterBuilder::balancer`].
    pub balancer: Option<Daemon>,
    /// The ε-BAL's configuration file (to restart it on the same ports).
    pub balancer_config: Option<PathBuf>,
    /// The ε-BAL's dataplane URL.
    pub balancer_url: Option<String>,
    /// Where the ε-BAL balances HTTP ingress traffic.
    pub balancer_http_url: Option<String>,
}

impl Domain {
    /// Starts the domain's ε-BAL again (after [`Daemon::kill`]), on the
    /// same ports.
    pub fn restart_balancer(&mut self) {
        let config = self
            .balancer_config
            .clone()
            .expect("the domain has a balancer");
        let log = config.with_extension("restarted.log");
        let mut balancer = Daemon::start(
            &format!("balancer of {}", self.id),
            "edgeless_bal_d",
            &config,
            log,
        );
        balancer.listening();
        self.balancer = Some(balancer);
    }

    /// Kills the orchestrator, every node and the ε-BAL (the whole domain
    /// loses power).
    pub fn kill(&mut self) {
        self.orchestrator.kill();
        for node in &mut self.nodes {
            node.kill();
        }
        if let Some(balancer) = &mut self.balancer {
            balancer.kill();
        }
    }
}

/// A started ε-BAL.
struct Balancer {
    daemon: Daemon,
    config: PathBuf,
    /// The orchestrator's `[balancer]` section.
    section: String,
    invocation_url: String,
    http_url: String,
}

/// Starts a domain's ε-BAL.
fn start_balancer(dir: &Path, options: &ClusterBuilder, index: usize) -> Balancer {
    let config = dir.join(format!("balancer{index}.toml"));
    std::fs::write(
        &config,
        format!(
            "balancer_id = \"{}\"\ninvocation_url = \"{}\"\nagent_url = \"{}\"\nhttp_url = \"{}\"\n{}",
            uuid_like(index, 0xba1),
            grpc_url(options, 0),
            grpc_url(options, 0),
            url(0),
            config_sections(options, dir, "balancer")
        ),
    )
    .expect("config written");
    let mut balancer = Daemon::start(
        &format!("balancer {index}"),
        "edgeless_bal_d",
        &config,
        dir.join(format!("balancer{index}.log")),
    );
    let listening = balancer.listening();
    pin_ports(&config, &listening);
    let section = format!(
        "[balancer]\nagent_url = \"{}\"\ninvocation_url = \"{}\"\n",
        listening["agent_url"], listening["invocation_url"]
    );
    Balancer {
        daemon: balancer,
        config,
        section,
        invocation_url: listening["invocation_url"].clone(),
        http_url: listening["http_url"].clone(),
    }
}

/// A node or balancer id unique per cluster: random, with `index` and
/// `n` readable in it.
fn uuid_like(index: usize, n: usize) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:06x}{:06x}",
        rand::random::<u32>(),
        index,
        n
    )
}

/// The URL of a gRPC service: https with [`ClusterBuilder::tls`].
pub(super) fn grpc_url(options: &ClusterBuilder, port: u16) -> String {
    let scheme = if options.tls { "https" } else { "http" };
    format!("{scheme}://127.0.0.1:{port}")
}

/// The `[telemetry]`, `[tls]` and `[auth]` sections of component `name`'s
/// configuration.
pub(super) fn config_sections(options: &ClusterBuilder, dir: &Path, name: &str) -> String {
    let mut sections = tls_section(options, dir, name);
    if options.metrics {
        sections.push_str("[telemetry]\nmetrics_url = \"http://127.0.0.1:0\"\n");
    }
    if options.tokens {
        sections.push_str(&format!(
            "[auth]
tokens_file = \"{}\"
token_file = \"{}\"\n",
            dir.join("tokens.toml").display(),
            dir.join(format!("{name}.token")).display()
        ));
    }
    sections
}

/// The `[tls]` section of a component's configuration, with
/// [`ClusterBuilder::tls`].
pub(super) fn tls_section(options: &ClusterBuilder, dir: &Path, name: &str) -> String {
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

/// The identity (certificate and token name) of the orchestrator of the
/// domain started `index`th: each domain's orchestrator has its own.
pub(super) fn orchestrator_identity(index: usize) -> String {
    match index {
        0 => "orchestrator".to_string(),
        i => format!("orchestrator-{i}"),
    }
}

/// The most domains a test cluster has.
pub(super) const MAX_DOMAINS: usize = 4;

/// Starts an orchestrator and its nodes; `index` keeps node ids and files apart.
pub(super) fn start_domain(
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
    let strategy = match (options.round_robin, options.least_loaded) {
        (true, _) => "RoundRobin",
        (_, true) => "LeastLoaded",
        _ => "Random",
    };
    let lease = options
        .node_lease_sec
        .map(|s| format!("node_lease_sec = {s}\n"))
        .unwrap_or_default();
    let proxy = match &options.redis_url {
        Some(redis) => format!("[proxy]\nproxy_type = \"Redis\"\nredis_url = \"{redis}\"\n"),
        None => String::new(),
    };
    let balancer = options
        .balancer
        .then(|| start_balancer(dir, options, index));
    let balancer_section = balancer
        .as_ref()
        .map(|b| b.section.clone())
        .unwrap_or_default();
    let orc_config = dir.join(format!("orchestrator{index}.toml"));
    // Persistent: the default data_dir (see `Daemon::start`).
    let data_dir = if options.persistent {
        String::new()
    } else {
        "data_dir = \"\"\n".to_string()
    };
    std::fs::write(
        &orc_config,
        format!(
            "[general]\ndomain_register_url = \"{domain_register_url}\"\nsubscription_refresh_interval_sec = {refresh}\n\
             domain_id = \"{id}\"\norchestrator_url = \"{}\"\nnode_register_url = \"{}\"\nmax_restarts = {}\n{lease}{data_dir}\
             [baseline]\norchestration_strategy = \"{strategy}\"\n{proxy}{balancer_section}{}",
            grpc_url(options, 0),
            grpc_url(options, 0),
            options.max_restarts.unwrap_or(5),
            config_sections(options, dir, &orchestrator_identity(index))
        ),
    )
    .expect("config written");
    let mut orchestrator = Daemon::start(
        &format!("orchestrator {id}"),
        "edgeless_orc_d",
        &orc_config,
        dir.join(format!("orchestrator{index}.log")),
    );
    let listening = orchestrator.listening();
    pin_ports(&orc_config, &listening);
    let node_register_url = listening["node_register_url"].clone();
    let mut domain = Domain {
        id,
        orchestrator,
        orchestrator_url: listening["orchestrator_url"].clone(),
        node_register_url: node_register_url.clone(),
        nodes: Vec::new(),
        node_ids: Vec::new(),
        node_configs: Vec::new(),
        http_ingress_url: None,
        invocation_urls: Vec::new(),
        agent_urls: Vec::new(),
        balancer_url: balancer.as_ref().map(|b| b.invocation_url.clone()),
        balancer_http_url: balancer.as_ref().map(|b| b.http_url.clone()),
        balancer_config: balancer.as_ref().map(|b| b.config.clone()),
        balancer: balancer.map(|b| b.daemon),
    };
    for i in 0..options.nodes.max(1) {
        // Unique per cluster: nodes clean up containers labelled with their id.
        let node_id = uuid_like(index, i + 1);
        let capabilities: String = options
            .capabilities
            .iter()
            .filter(|(node, _)| *node == i)
            .map(|(_, lines)| format!("{lines}\n"))
            .collect();
        let labels = options.labels.get(i).cloned().unwrap_or_default();
        let labels = labels
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let path = dir.join(format!("node{index}-{i}.toml"));
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
            let ingress = url(0);
            resources = format!(
                "[resources]\nhttp_ingress_url = \"{ingress}\"\nhttp_ingress_provider = \"http-ingress-1\"\n\
                 http_egress_provider = \"http-egress-1\"\nfile_log_provider = \"file-log-1\"\nredis_provider = \"redis-1\"\nkafka_egress_provider = \"kafka-egress-1\"\n\
                 file_log_dir = \"{}\"\negress_allow = [\"127.0.0.1\"]\n",
                dir.join("file-log").display()
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
        }
        if options.containers {
            resources.push_str("[container_runtime]\nenabled = true\nready_timeout_sec = 5\n");
        }
        // The domain's nodes share one module cache, fresh for each cluster.
        resources.push_str(&format!(
            "[wasm_runtime]\nmodule_cache_dir = \"{}\"\n{}\n",
            dir.join("wasm-cache").display(),
            options.wasm_runtime.as_deref().unwrap_or_default()
        ));
        let text = format!(
            "[general]\nnode_id = \"{node_id}\"\nagent_url = \"{}\"\ninvocation_url = \"{}\"\n{announced}\
             node_register_url = \"{}\"\nsubscription_refresh_interval_sec = {refresh}\n\
             [user_node_capabilities]\nlabels = [{labels}]\n{capabilities}{resources}{}",
            grpc_url(options, 0),
            grpc_url(options, 0),
            node_register_url,
            config_sections(options, dir, "node")
        );
        std::fs::write(&path, text).expect("node config written");
        let log = dir.join(format!("node{index}-{i}.log"));
        let mut node = Daemon::start(
            &format!("node{i} of {}", domain.id),
            "edgeless_node_d",
            &path,
            log,
        );
        let listening = node.listening();
        pin_ports(&path, &listening);
        domain
            .invocation_urls
            .push(listening["invocation_url"].clone());
        domain.agent_urls.push(listening["agent_url"].clone());
        if let Some(ingress) = listening.get("http_ingress_url") {
            domain.http_ingress_url = Some(ingress.clone());
        }
        domain.nodes.push(node);
        domain.node_ids.push(node_id);
        domain.node_configs.push(path);
    }
    domain
}
