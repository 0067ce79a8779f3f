//! EDGELESS-in-a-box: a whole cluster in one process, for trying things out
//! and for development. Every component still talks to the others through
//! its gRPC services on loopback, exactly as separate daemons do.
//!
//! [`Layout::write`] creates the configuration files; [`run`] starts the
//! components found in a folder (or, with no files, one of each with the
//! built-in defaults).

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The ports the controller always uses.
const CONTROLLER_PORTS: [u16; 2] = [7001, 7002];

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
    /// `initial_port` (skipping the controller's 7001 and 7002): balancer,
    /// orchestrator API, node registration, then per node agent,
    /// invocation and a reserved metrics port (plus, for the first node, the
    /// HTTP ingress port: the first node hosts one resource provider of each
    /// kind).
    pub fn new(nodes: usize, initial_port: u16) -> Self {
        let mut next = initial_port;
        let mut take = || {
            while CONTROLLER_PORTS.contains(&next) {
                next += 1;
            }
            next += 1;
            next - 1
        };
        let controller = edgeless_con::Config {
            controller_url: url(CONTROLLER_PORTS[0]),
            domain_register_url: url(CONTROLLER_PORTS[1]),
            ..Default::default()
        };
        let balancer = edgeless_bal::Config {
            invocation_url: url(take()),
            ..Default::default()
        };
        let mut orchestrator = edgeless_orc::Config::default();
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
                let _metrics = take();
                if i == 0 {
                    // The first node hosts one provider of each kind.
                    node.resources = edgeless_node::config::ResourcesConfig {
                        http_ingress_url: url(take()),
                        http_ingress_provider: "http-ingress-1".into(),
                        http_egress_provider: "http-egress-1".into(),
                        file_log_provider: "file-log-1".into(),
                        redis_provider: "redis-1".into(),
                        ..Default::default()
                    };
                }
                node
            })
            .collect();
        Self {
            controller,
            orchestrator,
            balancer,
            nodes,
        }
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
    /// built-in single-node layout.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
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
pub async fn run(layout: Layout, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut components = JoinSet::new();
    components.spawn(edgeless_con::run(layout.controller, shutdown.child_token()));
    components.spawn(edgeless_orc::run(
        layout.orchestrator,
        shutdown.child_token(),
    ));
    components.spawn(edgeless_bal::run(layout.balancer, shutdown.child_token()));
    for node in layout.nodes {
        components.spawn(edgeless_node::run(node, shutdown.child_token()));
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
        assert_eq!(read.orchestrator, layout.orchestrator);
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
}
