//! The orchestrator's state and logic, owned by one task (an actor).
//!
//! The controller speaks in logical components; this task maps each to
//! physical instances on nodes, keeps their output mappings in step (a patch
//! in logical ids becomes one patch per instance in physical ids), keeps the
//! full mesh of peers, and repairs what node loss breaks: instances of a lost
//! node are re-created elsewhere and every mapping that pointed at them is
//! patched again. Requests are handled one at a time, in order.

use std::collections::HashMap;

use edgeless_api::proto::{self, UpdatePeersRequestType};
use edgeless_api::{InstanceId, parse_uuid};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::config::Config;
use crate::placement::{PlacementError, Placer};
use crate::registry::{self, Node, Registry};

/// Why a request to the orchestrator failed.
#[derive(Debug, thiserror::Error)]
pub enum OrcError {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No node can host the component.
    #[error("cannot place `{component}`: {source}")]
    Placement {
        /// The component's class or type.
        component: String,
        /// Why.
        source: PlacementError,
    },
    /// The node refused or could not be reached.
    #[error("node {node}: {message}")]
    Node {
        /// The node.
        node: Uuid,
        /// What it said.
        message: String,
    },
    /// No such logical component.
    #[error("no component {0} in this domain")]
    NotFound(Uuid),
    /// The orchestrator task is gone.
    #[error("the orchestrator is shutting down")]
    Stopped,
}

/// What the controller asked for: a function or a resource.
#[derive(Clone)]
enum Spec {
    Function(proto::SpawnFunctionRequest),
    Resource(proto::ResourceInstanceSpecification),
}

impl Spec {
    fn describe(&self) -> String {
        match self {
            Spec::Function(f) => f
                .code
                .as_ref()
                .map(|c| c.function_class_id.clone())
                .unwrap_or_default(),
            Spec::Resource(r) => r.class_type.clone(),
        }
    }
}

/// A logical component and its physical instances.
struct Component {
    spec: Spec,
    instances: Vec<InstanceId>,
    /// Output → logical targets.
    mapping: HashMap<String, Vec<Uuid>>,
}

enum Command {
    Start(
        Uuid,
        Spec,
        oneshot::Sender<Result<Vec<InstanceId>, OrcError>>,
    ),
    Stop(Uuid, oneshot::Sender<Result<(), OrcError>>),
    Patch(
        Uuid,
        HashMap<String, Vec<Uuid>>,
        oneshot::Sender<Result<(), OrcError>>,
    ),
    UpdateNode(
        proto::UpdateNodeRequest,
        oneshot::Sender<Result<(), OrcError>>,
    ),
    Capabilities(oneshot::Sender<proto::DomainCapabilities>),
    Reset(oneshot::Sender<()>),
    Tick,
}

/// A handle to the orchestrator task. Cheap to clone.
#[derive(Clone)]
pub struct OrchestratorHandle {
    commands: mpsc::Sender<Command>,
}

impl OrchestratorHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, OrcError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| OrcError::Stopped)?;
        rx.await.map_err(|_| OrcError::Stopped)
    }

    /// Starts a function with logical id `lid`; returns its instances.
    pub async fn start_function(
        &self,
        lid: Uuid,
        spec: proto::SpawnFunctionRequest,
    ) -> Result<Vec<InstanceId>, OrcError> {
        self.ask(|tx| Command::Start(lid, Spec::Function(spec), tx))
            .await?
    }

    /// Starts a resource with logical id `lid`; returns its instances.
    pub async fn start_resource(
        &self,
        lid: Uuid,
        spec: proto::ResourceInstanceSpecification,
    ) -> Result<Vec<InstanceId>, OrcError> {
        self.ask(|tx| Command::Start(lid, Spec::Resource(spec), tx))
            .await?
    }

    /// Stops every instance of a component.
    pub async fn stop(&self, lid: Uuid) -> Result<(), OrcError> {
        self.ask(|tx| Command::Stop(lid, tx)).await?
    }

    /// Sets a component's outputs (logical targets).
    pub async fn patch(
        &self,
        lid: Uuid,
        mapping: HashMap<String, Vec<Uuid>>,
    ) -> Result<(), OrcError> {
        self.ask(|tx| Command::Patch(lid, mapping, tx)).await?
    }

    /// A node's registration or refresh.
    pub async fn update_node(&self, request: proto::UpdateNodeRequest) -> Result<(), OrcError> {
        self.ask(|tx| Command::UpdateNode(request, tx)).await?
    }

    /// The domain's aggregated capabilities.
    pub async fn capabilities(&self) -> Result<proto::DomainCapabilities, OrcError> {
        self.ask(Command::Capabilities).await
    }

    /// Stops every component.
    pub async fn reset(&self) -> Result<(), OrcError> {
        self.ask(Command::Reset).await
    }

    /// Checks node leases now.
    pub async fn tick(&self) {
        let _ = self.commands.send(Command::Tick).await;
    }
}

struct Orchestrator {
    config: Config,
    nodes: Registry,
    components: HashMap<Uuid, Component>,
    placer: Placer,
}

/// Starts the orchestrator task.
pub fn spawn(config: Config) -> (OrchestratorHandle, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(256);
    let mut orchestrator = Orchestrator {
        config,
        nodes: Registry::new(),
        components: HashMap::new(),
        placer: Placer::default(),
    };
    let task = tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            orchestrator.handle(command).await;
        }
    });
    (OrchestratorHandle { commands: tx }, task)
}

fn node_error(node: Uuid) -> impl Fn(tonic::Status) -> OrcError {
    move |status| OrcError::Node {
        node,
        message: status.message().to_string(),
    }
}

impl Orchestrator {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Start(lid, spec, reply) => {
                let _ = reply.send(self.start(lid, spec).await);
            }
            Command::Stop(lid, reply) => {
                let _ = reply.send(self.stop(lid).await);
            }
            Command::Patch(lid, mapping, reply) => {
                let result = match self.components.get_mut(&lid) {
                    Some(component) => {
                        component.mapping = mapping;
                        self.apply_patch(lid).await
                    }
                    None => Err(OrcError::NotFound(lid)),
                };
                let _ = reply.send(result);
            }
            Command::UpdateNode(request, reply) => {
                let _ = reply.send(self.update_node(request).await);
            }
            Command::Capabilities(reply) => {
                let _ = reply.send(registry::domain_capabilities(&self.nodes));
            }
            Command::Reset(reply) => {
                let lids: Vec<Uuid> = self.components.keys().copied().collect();
                for lid in lids {
                    let _ = self.stop(lid).await;
                }
                let _ = reply.send(());
            }
            Command::Tick => self.check_leases().await,
        }
    }

    async fn start(&mut self, lid: Uuid, spec: Spec) -> Result<Vec<InstanceId>, OrcError> {
        if self.components.contains_key(&lid) {
            return Err(OrcError::Invalid(format!("component {lid} already exists")));
        }
        let instance = self.start_instance(lid, &spec).await?;
        self.components.insert(
            lid,
            Component {
                spec,
                instances: vec![instance],
                mapping: HashMap::new(),
            },
        );
        Ok(vec![instance])
    }

    /// Places and starts one physical instance of `spec`.
    async fn start_instance(&mut self, lid: Uuid, spec: &Spec) -> Result<InstanceId, OrcError> {
        let node_id = self.place(spec)?;
        let node = self
            .nodes
            .get_mut(&node_id)
            .ok_or(OrcError::NotFound(node_id))?;
        let function_id = Uuid::new_v4();
        let response = match spec {
            Spec::Function(request) => {
                let mut request = request.clone();
                request.component_id = function_id.to_string();
                if request.state_id.is_empty() {
                    request.state_id = lid.to_string();
                }
                node.functions.start(request).await
            }
            Spec::Resource(request) => {
                let mut request = request.clone();
                request.component_id = function_id.to_string();
                node.resources.start(request).await
            }
        }
        .map_err(node_error(node_id))?;
        let started = response
            .into_inner()
            .instances
            .first()
            .map(InstanceId::try_from);
        match started {
            Some(Ok(id)) => {
                tracing::info!(component = %lid, instance = %id, "instance started");
                Ok(id)
            }
            _ => Err(OrcError::Node {
                node: node_id,
                message: "the start response names no instance".into(),
            }),
        }
    }

    fn place(&mut self, spec: &Spec) -> Result<Uuid, OrcError> {
        let placement_error = |source| OrcError::Placement {
            component: spec.describe(),
            source,
        };
        match spec {
            Spec::Function(request) => {
                let function_type = request
                    .code
                    .as_ref()
                    .map(|c| c.function_class_type.as_str())
                    .unwrap_or("");
                let views = registry::views(&self.nodes);
                self.placer
                    .place(
                        self.config.baseline.orchestration_strategy,
                        &views,
                        function_type,
                        &request.annotations,
                    )
                    .map_err(placement_error)
            }
            Spec::Resource(request) => self
                .nodes
                .iter()
                .find(|(_, node)| {
                    node.providers
                        .iter()
                        .any(|p| p.class_type == request.class_type)
                })
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    placement_error(PlacementError::Unsatisfied(format!(
                        "a provider of resource class `{}`",
                        request.class_type
                    )))
                }),
        }
    }

    async fn stop(&mut self, lid: Uuid) -> Result<(), OrcError> {
        let component = self
            .components
            .remove(&lid)
            .ok_or(OrcError::NotFound(lid))?;
        for instance in component.instances {
            self.stop_instance(&component.spec, instance).await;
        }
        Ok(())
    }

    async fn stop_instance(&mut self, spec: &Spec, instance: InstanceId) {
        let Some(node) = self.nodes.get_mut(&instance.node_id) else {
            return;
        };
        let request = proto::ComponentId {
            component_id: instance.function_id.to_string(),
        };
        let result = match spec {
            Spec::Function(_) => node.functions.stop(request).await,
            Spec::Resource(_) => node.resources.stop(request).await,
        };
        if let Err(status) = result {
            tracing::warn!(%instance, error = %status.message(), "stop failed");
        }
    }

    /// Sends a component's mapping, translated to physical instances, to
    /// each of its instances.
    async fn apply_patch(&mut self, lid: Uuid) -> Result<(), OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let mut physical = HashMap::new();
        for (output, targets) in &component.mapping {
            let mut instances = Vec::new();
            for target in targets {
                let target_component = self.components.get(target).ok_or_else(|| {
                    OrcError::Invalid(format!(
                        "output `{output}` of {lid} targets unknown component {target}"
                    ))
                })?;
                instances.extend(
                    target_component
                        .instances
                        .iter()
                        .map(|i| proto::InstanceId::from(*i)),
                );
            }
            physical.insert(output.clone(), proto::InstanceIdList { instances });
        }
        let is_function = matches!(component.spec, Spec::Function(_));
        for instance in component.instances.clone() {
            let Some(node) = self.nodes.get_mut(&instance.node_id) else {
                continue;
            };
            let request = proto::PatchRequest {
                component_id: instance.function_id.to_string(),
                output_mapping: physical.clone(),
            };
            let result = if is_function {
                node.functions.patch(request).await
            } else {
                node.resources.patch(request).await
            };
            result.map_err(node_error(instance.node_id))?;
        }
        Ok(())
    }

    async fn update_node(&mut self, request: proto::UpdateNodeRequest) -> Result<(), OrcError> {
        let node_id = parse_uuid("node_id", &request.node_id)
            .map_err(|e| OrcError::Invalid(e.to_string()))?;
        if let Some(node) = self.nodes.get_mut(&node_id) {
            if node.nonce == request.nonce {
                node.deadline = request.refresh_deadline;
                node.capabilities = request.capabilities.unwrap_or_default();
                node.providers = request.resource_providers;
                return Ok(());
            }
            tracing::info!(node = %node_id, "node restarted");
            self.node_lost(node_id).await;
        }
        let mut node = Node::from_registration(&request).map_err(OrcError::Invalid)?;
        // A node we do not know may still run instances of an earlier
        // orchestrator: start it clean.
        node.management
            .reset(proto::Empty {})
            .await
            .map_err(node_error(node_id))?;
        for (peer_id, peer) in self.nodes.iter_mut() {
            let add = |id: &Uuid, url: &str| proto::UpdatePeersRequest {
                request_type: UpdatePeersRequestType::Add as i32,
                node_id: id.to_string(),
                invocation_url: url.to_string(),
            };
            if let Err(status) = peer
                .management
                .update_peers(add(&node_id, &node.invocation_url))
                .await
            {
                tracing::warn!(node = %peer_id, error = %status.message(), "peer update failed");
            }
            node.management
                .update_peers(add(peer_id, &peer.invocation_url))
                .await
                .map_err(node_error(node_id))?;
        }
        tracing::info!(node = %node_id, agent = %node.agent_url, "node joined the domain");
        self.nodes.insert(node_id, node);
        self.recreate_missing().await;
        Ok(())
    }

    async fn check_leases(&mut self) {
        let now = edgeless_api::now_secs();
        let expired: Vec<Uuid> = self
            .nodes
            .iter()
            .filter(|(_, node)| node.deadline < now)
            .map(|(id, _)| *id)
            .collect();
        for node_id in expired {
            tracing::warn!(node = %node_id, "node lease expired");
            self.node_lost(node_id).await;
        }
        self.recreate_missing().await;
    }

    /// Forgets a node and the instances it ran.
    async fn node_lost(&mut self, node_id: Uuid) {
        self.nodes.remove(&node_id);
        for (peer_id, peer) in self.nodes.iter_mut() {
            let request = proto::UpdatePeersRequest {
                request_type: UpdatePeersRequestType::Del as i32,
                node_id: node_id.to_string(),
                invocation_url: String::new(),
            };
            if let Err(status) = peer.management.update_peers(request).await {
                tracing::warn!(node = %peer_id, error = %status.message(), "peer removal failed");
            }
        }
        for component in self.components.values_mut() {
            component.instances.retain(|i| i.node_id != node_id);
        }
    }

    /// Starts an instance for every component that has none, then patches
    /// every component whose targets changed.
    async fn recreate_missing(&mut self) {
        let missing: Vec<(Uuid, Spec)> = self
            .components
            .iter()
            .filter(|(_, c)| c.instances.is_empty())
            .map(|(lid, c)| (*lid, c.spec.clone()))
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut recreated = Vec::new();
        for (lid, spec) in missing {
            match self.start_instance(lid, &spec).await {
                Ok(instance) => {
                    if let Some(component) = self.components.get_mut(&lid) {
                        component.instances.push(instance);
                    }
                    recreated.push(lid);
                }
                Err(error) => {
                    tracing::error!(component = %lid, %error, "cannot re-create instance; will retry")
                }
            }
        }
        let to_patch: Vec<Uuid> = self
            .components
            .iter()
            .filter(|(lid, c)| {
                recreated.contains(lid)
                    || c.mapping.values().flatten().any(|t| recreated.contains(t))
            })
            .map(|(lid, _)| *lid)
            .collect();
        for lid in to_patch {
            if let Err(error) = self.apply_patch(lid).await {
                tracing::warn!(component = %lid, %error, "re-patch failed");
            }
        }
    }
}
