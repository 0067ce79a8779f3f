//! EDGELESS-in-a-box: a whole cluster in one process, for trying things out
//! and for development. Every component still talks to the others through
//! its gRPC services on loopback, exactly as separate daemons do.
//!
//! [`Layout::write`] creates the configuration files; [`run`] starts the
//! components found in a folder (or, with no files, one of each with the
//! built-in defaults).

use std::path::{Path, PathBuf};

use std::future::Future;

use anyhow::Context;
use edgeless_api::server::{Listening, ListeningReport};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The configurations of a cluster.
pub struct Layout {
    /// The controller.
    pub controller: edgeless_con::Config,
    /// The orchestrator.
    pub orchestrator: edgeless_orc::Config,
    /// The balancer.
    pub balancer: edgeless_bal::Config,
    /// The nodes.
    pub nodes: Vec<edgeless_node::Config>,
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl Layout {
    /// A cluster with `nodes` nodes; ports are taken in order from
    /// `initial_port`: balancer, controller workflow API, domain
    /// registration, orchestrator API, node registration, then per node
    /// agent, invocation and metrics (plus, for the first
    /// node, the HTTP ingress port: the first node hosts one resource
    /// provider of each kind). From 7000 the controller gets 7001 and 7002.
    /// With `initial_port` 0 every component listens on a port the system
    /// chooses when it starts (see [`run`]).
    pub fn new(nodes: usize, initial_port: u16) -> Self {
        let mut next = initial_port;
        let mut take = || {
            let port = next;
            if initial_port != 0 {
                next += 1;
            }
            port
        };
        let mut balancer = edgeless_bal::Config {
            invocation_url: url(take()),
            ..Default::default()
        };
        // State beside the configuration files (see `Layout::read`), so that
        // clusters in different folders never share it.
        let mut controller = edgeless_con::Config {
            controller_url: url(take()),
            domain_register_url: url(take()),
            data_dir: "state/controller".into(),
            ..Default::default()
        };
        let mut orchestrator = edgeless_orc::Config::default();
        orchestrator.general.data_dir = "state/orchestrator".into();
        orchestrator.general.domain_register_url = controller.domain_register_url.clone();
        orchestrator.general.domain_id = format!("domain-{initial_port}");
        orchestrator.general.orchestrator_url = url(take());
        orchestrator.general.node_register_url = url(take());
        let nodes = (0..nodes)
            .map(|i| {
                let mut node = edgeless_node::Config::default();
                node.general.agent_url = url(take());
                node.general.invocation_url = url(take());
                node.general.node_register_url = orchestrator.general.node_register_url.clone();
                node.telemetry.metrics_url = url(take());
                if i == 0 {
                    // The first node hosts one provider of each kind.
                    node.resources = edgeless_node::config::ResourcesConfig {
                        http_ingress_url: url(take()),
                        http_ingress_provider: "http-ingress-1".into(),
                        http_egress_provider: "http-egress-1".into(),
                        file_log_provider: "file-log-1".into(),
                        redis_provider: "redis-1".into(),
                        kafka_egress_provider: "kafka-egress-1".into(),
                        // A single-host cluster: its workflows may reach
                        // local services (not the node's own ports).
                        egress_allow: vec!["127.0.0.1".into(), "localhost".into()],
                        ..Default::default()
                    };
                }
                node
            })
            .collect();
        // Metrics of the other daemons after every node's ports.
        controller.telemetry.metrics_url = url(take());
        orchestrator.telemetry.metrics_url = url(take());
        balancer.telemetry.metrics_url = url(take());
        balancer.agent_url = url(take());
        // The dashboard on the initial port + 80 (7080 from 7000), unless
        // the ports above reached it.
        let after = take();
        let usual = initial_port.saturating_add(80);
        controller.dashboard_url = url(match after {
            0 => 0,
            _ if after <= usual => usual,
            _ => after,
        });
        Self {
            controller,
            orchestrator,
            balancer,
            nodes,
        }
    }

    /// Adds a node that hosts only a `metrics-collector` provider recording
    /// into Redis at `redis_url`, and mirrors the orchestrator's state there
    /// (the original's `--metrics-collector`).
    pub fn with_metrics_collector(mut self, redis_url: &str) -> Self {
        let mut node = edgeless_node::Config::default();
        let first = &self.nodes[0].general;
        // Free ports of the system's choice: it needs no fixed ones.
        node.general.agent_url = url(0);
        node.general.invocation_url = url(0);
        node.general.node_register_url = first.node_register_url.clone();
        node.general.subscription_refresh_interval_sec = 10;
        node.wasm_runtime.enabled = false;
        node.resources.metrics_collector_provider =
            Some(edgeless_node::config::MetricsCollectorProvider {
                collector_type: "Redis".into(),
                redis_url: redis_url.to_string(),
                provider: "metrics-collector-1".into(),
            });
        self.nodes.push(node);
        self.orchestrator.proxy.proxy_type = edgeless_orc::config::ProxyType::Redis;
        self.orchestrator.proxy.redis_url = redis_url.to_string();
        self
    }

    fn node_file(count: usize, index: usize) -> String {
        if count == 1 {
            "node.toml".to_string()
        } else {
            format!("node{index}.toml")
        }
    }

    /// Writes `controller.toml`, `orchestrator.toml`, `balancer.toml` and
    /// `node.toml` (or `node0.toml`...) into `dir`, never overwriting a file.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut files = vec![
            (
                dir.join("controller.toml"),
                toml::to_string_pretty(&self.controller)?,
            ),
            (
                dir.join("orchestrator.toml"),
                toml::to_string_pretty(&self.orchestrator)?,
            ),
            (
                dir.join("balancer.toml"),
                toml::to_string_pretty(&self.balancer)?,
            ),
        ];
        for (i, node) in self.nodes.iter().enumerate() {
            files.push((
                dir.join(Self::node_file(self.nodes.len(), i)),
                toml::to_string_pretty(node)?,
            ));
        }
        for (path, text) in &files {
            edgeless_api::daemon::write_template_file(path, text)?;
        }
        Ok(files.into_iter().map(|(path, _)| path).collect())
    }

    /// Reads the configuration files in `dir`. With none at all, the
    /// built-in single-node layout. A relative `data_dir` is taken relative
    /// to `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let mut layout = Self::read_files(dir)?;
        for data_dir in [
            &mut layout.controller.data_dir,
            &mut layout.orchestrator.general.data_dir,
        ] {
            if !data_dir.is_empty() && Path::new(data_dir.as_str()).is_relative() {
                *data_dir = dir.join(data_dir.as_str()).display().to_string();
            }
        }
        Ok(layout)
    }

    fn read_files(dir: &Path) -> anyhow::Result<Self> {
        fn load<C: serde::de::DeserializeOwned>(path: PathBuf) -> anyhow::Result<Option<C>> {
            if path.exists() {
                edgeless_api::daemon::load_config(&path).map(Some)
            } else {
                Ok(None)
            }
        }
        let mut node_files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.starts_with("node") && name.ends_with(".toml")
            })
            .collect();
        node_files.sort();
        let controller = load(dir.join("controller.toml"))?;
        let orchestrator = load(dir.join("orchestrator.toml"))?;
        if controller.is_none() && orchestrator.is_none() && node_files.is_empty() {
            tracing::info!(
                "no configuration files in {}; using built-in defaults",
                dir.display()
            );
            return Ok(Self::new(1, 7000));
        }
        let required = |name: &str| {
            anyhow::anyhow!(
                "{} is missing (write the files with `edgeless_inabox -t`)",
                dir.join(name).display()
            )
        };
        Ok(Self {
            controller: controller.ok_or_else(|| required("controller.toml"))?,
            orchestrator: orchestrator.ok_or_else(|| required("orchestrator.toml"))?,
            balancer: load(dir.join("balancer.toml"))?.unwrap_or_default(),
            nodes: node_files
                .into_iter()
                .map(|path| edgeless_api::daemon::load_config(&path))
                .collect::<anyhow::Result<Vec<_>>>()?,
        })
    }
}

/// Runs every component of `layout` until `shutdown` or until one fails.
///
/// Components start in order (controller, orchestrator, balancer, nodes),
/// each once the one it registers with listens, so that a URL with port 0
/// works everywhere: the orchestrator registers at the port the controller
/// got, the nodes at the port the orchestrator got. `report` receives every
/// component's addresses, keyed `controller.controller_url`,
/// `orchestrator.node_register_url`, `balancer.invocation_url`,
/// `node0.agent_url`, ...
pub async fn run(
    mut layout: Layout,
    shutdown: CancellationToken,
    report: ListeningReport,
) -> anyhow::Result<()> {
    let mut components = JoinSet::new();
    let mut all = Listening::default();

    let configured = layout.controller.domain_register_url.clone();
    let controller = start(&mut components, "controller", &shutdown, |s, r| {
        edgeless_con::run(layout.controller, s, r)
    });
    let controller = listening(controller, &mut components).await?;
    all = merge(all, "controller", &controller);
    rewire(
        &mut layout.orchestrator.general.domain_register_url,
        &configured,
        controller.get("domain_register_url"),
    );

    let configured = layout.orchestrator.general.node_register_url.clone();
    let orchestrator = start(&mut components, "orchestrator", &shutdown, |s, r| {
        edgeless_orc::run(layout.orchestrator, s, r)
    });
    let orchestrator = listening(orchestrator, &mut components).await?;
    all = merge(all, "orchestrator", &orchestrator);

    let balancer = start(&mut components, "balancer", &shutdown, |s, r| {
        edgeless_bal::run(layout.balancer, s, r)
    });
    all = merge(
        all,
        "balancer",
        &listening(balancer, &mut components).await?,
    );

    for (i, mut node) in layout.nodes.into_iter().enumerate() {
        rewire(
            &mut node.general.node_register_url,
            &configured,
            orchestrator.get("node_register_url"),
        );
        let name = format!("node{i}");
        let node = start(&mut components, &name, &shutdown, |s, r| {
            edgeless_node::run(node, s, r)
        });
        all = merge(all, &name, &listening(node, &mut components).await?);
    }
    report.send(&all);
    if let Some(url) = all.get("controller.dashboard_url") {
        tracing::info!("the dashboard is at {url}/");
    }

    let mut result = Ok(());
    while let Some(finished) = components.join_next().await {
        let outcome = finished.context("a component panicked").and_then(|r| r);
        if let Err(error) = outcome {
            if result.is_ok() {
                result = Err(error);
            }
            shutdown.cancel();
        }
    }
    result
}

/// Spawns one component; the receiver gets its addresses once it listens.
fn start<F, Fut>(
    components: &mut JoinSet<anyhow::Result<()>>,
    name: &str,
    shutdown: &CancellationToken,
    run: F,
) -> oneshot::Receiver<Listening>
where
    F: FnOnce(CancellationToken, ListeningReport) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let report = ListeningReport::to(move |listening| {
        let _ = sender.send(listening.clone());
    });
    let name = name.to_string();
    let component = run(shutdown.child_token(), report);
    components.spawn(async move { component.await.with_context(|| format!("{name} failed")) });
    receiver
}

/// Waits until a component listens; its error when it fails first.
async fn listening(
    receiver: oneshot::Receiver<Listening>,
    components: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Listening> {
    match receiver.await {
        Ok(listening) => Ok(listening),
        Err(_) => {
            // The component ended before it listened: report why.
            while let Some(finished) = components.join_next().await {
                finished.context("a component panicked")??;
            }
            anyhow::bail!("a component ended before it listened")
        }
    }
}

/// Adds `listening` under `name.` to `all`.
fn merge(mut all: Listening, name: &str, listening: &Listening) -> Listening {
    for (key, url) in listening.entries() {
        all = all.with(&format!("{name}.{key}"), url);
    }
    all
}

/// Points a client URL at the address a server got, when it was configured
/// as the address that server was configured with.
fn rewire(client_url: &mut String, configured: &str, bound: Option<&str>) {
    if let Some(bound) = bound
        && client_url == configured
    {
        *client_url = bound.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_the_documented_layout() {
        let layout = Layout::new(2, 7000);
        assert_eq!(layout.balancer.invocation_url, "http://127.0.0.1:7000");
        assert_eq!(
            layout.orchestrator.general.orchestrator_url,
            "http://127.0.0.1:7003"
        );
        assert_eq!(
            layout.orchestrator.general.node_register_url,
            "http://127.0.0.1:7004"
        );
        assert_eq!(layout.nodes[0].general.agent_url, "http://127.0.0.1:7005");
        assert_eq!(
            layout.nodes[0].general.invocation_url,
            "http://127.0.0.1:7006"
        );
        assert_eq!(layout.nodes[1].general.agent_url, "http://127.0.0.1:7009");
        // Metrics: each node's third port, the others after the nodes.
        assert_eq!(
            layout.nodes[0].telemetry.metrics_url,
            "http://127.0.0.1:7007"
        );
        assert_eq!(
            layout.nodes[1].telemetry.metrics_url,
            "http://127.0.0.1:7011"
        );
        assert_eq!(
            layout.controller.telemetry.metrics_url,
            "http://127.0.0.1:7012"
        );
        assert_eq!(
            layout.orchestrator.telemetry.metrics_url,
            "http://127.0.0.1:7013"
        );
        assert_eq!(
            layout.balancer.telemetry.metrics_url,
            "http://127.0.0.1:7014"
        );
        assert_ne!(
            layout.nodes[0].general.node_id,
            layout.nodes[1].general.node_id
        );
    }

    #[test]
    fn written_files_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(2, 7100);
        let files = layout.write(dir.path()).unwrap();
        assert_eq!(files.len(), 5);
        let read = Layout::read(dir.path()).unwrap();
        assert_eq!(read.nodes.len(), 2);
        assert_eq!(read.nodes[1], layout.nodes[1]);
        assert_eq!(
            read.orchestrator.general.domain_id,
            layout.orchestrator.general.domain_id
        );
        // State is kept beside the files.
        assert_eq!(
            read.controller.data_dir,
            dir.path().join("state/controller").display().to_string()
        );
        assert_eq!(
            read.orchestrator.general.data_dir,
            dir.path().join("state/orchestrator").display().to_string()
        );
        // Never overwrite.
        assert!(layout.write(dir.path()).is_err());
    }

    #[test]
    fn an_empty_folder_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::read(dir.path()).unwrap();
        assert_eq!(layout.nodes.len(), 1);
        assert_eq!(layout.controller.controller_url, "http://127.0.0.1:7001");
    }

    #[test]
    fn the_metrics_collector_adds_a_node_and_the_redis_proxy() {
        let layout = Layout::new(2, 7000).with_metrics_collector("redis://127.0.0.1:6379");
        assert_eq!(layout.nodes.len(), 3);
        let collector = &layout.nodes[2];
        assert!(!collector.wasm_runtime.enabled);
        assert_eq!(
            collector
                .resources
                .metrics_collector_provider
                .as_ref()
                .unwrap()
                .provider,
            "metrics-collector-1"
        );
        assert_eq!(
            layout.orchestrator.proxy.proxy_type,
            edgeless_orc::config::ProxyType::Redis
        );
        let dir = tempfile::tempdir().unwrap();
        layout.write(dir.path()).unwrap();
        assert_eq!(Layout::read(dir.path()).unwrap().nodes.len(), 3);
    }

    #[test]
    fn every_port_moves_with_the_initial_port() {
        let layout = Layout::new(1, 9100);
        assert_eq!(layout.balancer.invocation_url, "http://127.0.0.1:9100");
        assert_eq!(layout.controller.controller_url, "http://127.0.0.1:9101");
        assert_eq!(
            layout.controller.domain_register_url,
            "http://127.0.0.1:9102"
        );
        assert_eq!(
            layout.orchestrator.general.domain_register_url,
            layout.controller.domain_register_url
        );
        assert_eq!(layout.controller.dashboard_url, "http://127.0.0.1:9180");
        let zero = Layout::new(2, 0);
        assert_eq!(zero.controller.controller_url, "http://127.0.0.1:0");
        assert_eq!(zero.nodes[1].general.agent_url, "http://127.0.0.1:0");
        assert_eq!(zero.controller.dashboard_url, "http://127.0.0.1:0");
    }

    #[tokio::test]
    async fn with_port_zero_components_find_each_other() {
        let mut layout = Layout::new(2, 0);
        // Nothing kept: state would land in the working directory.
        layout.controller.data_dir = String::new();
        layout.orchestrator.general.data_dir = String::new();
        for node in &mut layout.nodes {
            node.wasm_runtime.module_cache = false;
        }
        let shutdown = CancellationToken::new();
        let (sender, receiver) = oneshot::channel();
        let report = ListeningReport::to(move |l| {
            let _ = sender.send(l.clone());
        });
        let cluster = tokio::spawn(run(layout, shutdown.clone(), report));
        let listening = receiver.await.expect("the cluster listens");
        for key in [
            "controller.controller_url",
            "orchestrator.node_register_url",
            "balancer.invocation_url",
            "node1.invocation_url",
            "node0.http_ingress_url",
        ] {
            let url = listening.get(key).unwrap_or_else(|| panic!("{key}"));
            assert!(!url.ends_with(":0"), "{key} = {url}");
        }
        // The domain registers with both nodes: the controller lists it.
        let url = listening
            .get("controller.controller_url")
            .unwrap()
            .to_string();
        let mut registered = false;
        for _ in 0..100 {
            use edgeless_api::proto::{DomainId, workflow_instance_client::WorkflowInstanceClient};
            let mut client = WorkflowInstanceClient::connect(url.clone()).await.unwrap();
            let request = DomainId {
                domain_id: String::new(),
            };
            let domains = client.domains(request).await.unwrap().into_inner();
            let nodes = |e: &edgeless_api::proto::DomainCapabilitiesEntry| {
                e.domain_capabilities.as_ref().map_or(0, |c| c.num_nodes)
            };
            if domains.domain_capabilities.iter().any(|e| nodes(e) == 2) {
                registered = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        cluster.await.unwrap().unwrap();
        assert!(registered, "the domain registered with its two nodes");
    }
}
