//! A node in this process: dataplane, agent with a WASM runtime, and the
//! dataplane's gRPC service on a free loopback port (so events between two
//! such nodes cross a real TCP connection, as between two node daemons).

use edgeless_api::InstanceId;
use edgeless_dataplane::{Dataplane, DataplaneHandle, InvocationService};
use edgeless_node::agent::{Agent, StartFunction};
use edgeless_node::runtime::WasmRuntime;
use uuid::Uuid;

/// One in-process node.
pub struct BenchNode {
    /// Its node id.
    pub id: Uuid,
    /// Its routing table.
    pub dataplane: Dataplane,
    /// Starts and stops its instances.
    pub agent: Agent,
    /// Where its dataplane listens.
    pub invocation_url: String,
    server: tokio::task::JoinHandle<()>,
}

/// Serves `dataplane`'s gRPC service on a free loopback port, with the
/// layers a node daemon's dataplane has (request metrics, authorization,
/// and mutual TLS once [`super::tls::Certificates::install`] ran); returns its URL and
/// the server task.
pub async fn serve_dataplane(
    service: InvocationService,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let scheme = if edgeless_api::tls::is_installed() {
        "https"
    } else {
        "http"
    };
    let invocation_url = format!("{scheme}://{}", listener.local_addr()?);
    let service = service.into_server();
    let builder = edgeless_api::server::builder(edgeless_api::auth::policy::DATAPLANE)?;
    let server = tokio::spawn(async move {
        let served = builder
            .add_service(service)
            .serve_with_incoming(edgeless_api::server::incoming(listener))
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "invocation server failed");
        }
    });
    Ok((invocation_url, server))
}

impl BenchNode {
    /// Starts a node with a WASM runtime, with its on-disk module cache in
    /// `module_cache` (none: compiled modules are kept in memory only).
    pub async fn start(module_cache: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let most = edgeless_node::config::WasmRuntime::default().max_instances;
        Self::start_up_to(module_cache, most).await
    }

    /// [`BenchNode::start`], running up to `max_instances` at once.
    pub async fn start_up_to(
        module_cache: Option<&std::path::Path>,
        max_instances: usize,
    ) -> anyhow::Result<Self> {
        let id = Uuid::new_v4();
        let dataplane = Dataplane::new(id);
        let (invocation_url, server) =
            serve_dataplane(InvocationService::new(dataplane.clone())).await?;
        let wasm = WasmRuntime::new(module_cache)?;
        let agent = Agent::wasm_only_up_to(dataplane.clone(), wasm, max_instances);
        Ok(Self {
            id,
            dataplane,
            agent,
            invocation_url,
            server,
        })
    }

    /// Opens this node's link to `peer` (one direction).
    pub fn link_to(&self, peer: &BenchNode) -> anyhow::Result<()> {
        self.link_at(peer.id, &peer.invocation_url)
    }

    /// Opens this node's link to node `peer`, reached at `url` (the node,
    /// or a balancer in between).
    pub fn link_at(&self, peer: Uuid, url: &str) -> anyhow::Result<()> {
        Ok(self.agent.add_peer(peer, url)?)
    }

    /// A mailbox on this node that is not a function: the benchmark's end
    /// of every exchange.
    pub fn driver(&self) -> DataplaneHandle {
        self.dataplane.register(InstanceId {
            node_id: self.id,
            function_id: Uuid::new_v4(),
        })
    }

    /// Starts a WASM instance of `code`, mapped both ways to `driver` (a
    /// mailbox of `driver_node`), as a workflow would map them.
    pub async fn start_wasm(
        &self,
        class_id: &str,
        code: &[u8],
        driver_node: &BenchNode,
        driver: &DataplaneHandle,
    ) -> anyhow::Result<InstanceId> {
        let request = StartFunction::new(edgeless_api::RUST_WASM, class_id, code.to_vec());
        let instance = self.agent.start_function(request).await?;
        let driver = driver.sender().instance_id();
        self.dataplane.allow_input(instance.function_id, driver);
        driver_node
            .dataplane
            .allow_input(driver.function_id, instance);
        Ok(instance)
    }

    /// Starts a bouncer without WASM: a task on this node that sends every
    /// cast straight back to its source, mapped both ways to `driver` like
    /// [`BenchNode::start_wasm`]. What events cost without a function.
    pub fn start_native_bouncer(
        &self,
        driver_node: &BenchNode,
        driver: &DataplaneHandle,
    ) -> (InstanceId, tokio::task::JoinHandle<()>) {
        let id = InstanceId {
            node_id: self.id,
            function_id: Uuid::new_v4(),
        };
        let mut mailbox = self.dataplane.register(id);
        let driver = driver.sender().instance_id();
        self.dataplane.allow_input(id.function_id, driver);
        driver_node.dataplane.allow_input(driver.function_id, id);
        let task = tokio::spawn(async move {
            while let Some(event) = mailbox.receive_next().await {
                if let Err(error) = mailbox.sender().cast(event.source, event.payload) {
                    tracing::warn!(%error, "native bouncer: cast refused");
                }
            }
        });
        (id, task)
    }
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}
