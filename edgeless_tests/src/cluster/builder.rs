//! The options of a test cluster.

use super::Cluster;

/// Options of a cluster.
#[derive(Default, Clone)]
pub struct ClusterBuilder {
    pub(super) nodes: usize,
    pub(super) round_robin: bool,
    pub(super) least_loaded: bool,
    pub(super) node_lease_sec: Option<u64>,
    /// Node index → lines added to its `[user_node_capabilities]`.
    pub(super) capabilities: Vec<(usize, String)>,
    pub(super) labels: Vec<Vec<String>>,
    pub(super) refresh_sec: Option<u64>,
    pub(super) redis_url: Option<String>,
    pub(super) domain_id: Option<String>,
    pub(super) resources: bool,
    pub(super) ollama_port: Option<u16>,
    pub(super) metrics_redis: Option<String>,
    pub(super) max_restarts: Option<u32>,
    pub(super) containers: bool,
    pub(super) persistent: bool,
    pub(super) tls: bool,
    pub(super) tokens: bool,
    pub(super) metrics: bool,
    /// Lines added to every node's `[wasm_runtime]`.
    pub(super) wasm_runtime: Option<String>,
    /// Node index → the port its dataplane URL is announced on.
    pub(super) announced_invocation: Vec<(usize, u16)>,
    /// The domain has an ε-BAL: events from and to other domains go
    /// through it.
    pub(super) balancer: bool,
}

impl ClusterBuilder {
    /// Every daemon checks bearer tokens (`[auth]`): a tokens file with
    /// tokens for `controller`, `orchestrator`, `node` (shared by the
    /// nodes), `cli` (a client of tenant `default`) and `admin`, each in
    /// `NAME.token` in the cluster's folder.
    pub fn tokens(mut self) -> Self {
        self.tokens = true;
        self
    }

    /// Adds `lines` (e.g. `max_cpu_ms_per_event = 60000`) to every node's
    /// `[wasm_runtime]`.
    pub fn wasm_runtime(mut self, lines: &str) -> Self {
        self.wasm_runtime = Some(lines.to_string());
        self
    }

    /// The domain gets an ε-BAL (`edgeless_bal_d`, started before its
    /// orchestrator): events between it and other domains go through it.
    pub fn balancer(mut self) -> Self {
        self.balancer = true;
        self
    }

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

    /// Place instances on the node with the fewest instances per CPU.
    pub fn least_loaded(mut self) -> Self {
        self.least_loaded = true;
        self
    }

    /// The orchestrator's `node_lease_sec`: how long a silent node is kept.
    pub fn node_lease_sec(mut self, seconds: u64) -> Self {
        self.node_lease_sec = Some(seconds);
        self
    }

    /// Adds `lines` (e.g. `has_tpm = true`) to node `index`'s
    /// `[user_node_capabilities]`.
    pub fn capabilities(mut self, index: usize, lines: &str) -> Self {
        self.capabilities.push((index, lines.to_string()));
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

    /// Serve every daemon's `/metrics`, `/healthz` and `/readyz` on a free
    /// port (`metrics_url` in its listening file).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Leave the controller's and the orchestrators' `data_dir` at its
    /// default (state kept, in the test's folder), so their state survives
    /// [`Cluster::restart_controller`] and [`Cluster::restart_orchestrator`];
    /// without it, `data_dir = ""`.
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
