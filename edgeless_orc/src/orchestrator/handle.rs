//! The orchestrator's public face: a cheap handle that sends the task
//! commands and waits for their answers; node leases and the domain's
//! capabilities are read without waiting for the task.

use std::collections::HashMap;
use std::sync::Arc;

use edgeless_api::InstanceId;
use edgeless_api::proto;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{CapabilitiesSnapshot, Command, Leases, NodeAction, OrcError, Spec, calls, leases};

/// A handle to the orchestrator task. Cheap to clone.
#[derive(Clone)]
pub struct OrchestratorHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) leases: Leases,
    pub(super) capabilities: CapabilitiesSnapshot,
    /// `node_lease_sec` (0: the nodes' own deadlines).
    pub(super) lease_sec: u64,
    pub(super) events: edgeless_api::feed::EventJournal,
    /// Whether the domain's balancer answered the last peer update (false
    /// without one).
    pub(super) balancer_healthy: Arc<std::sync::atomic::AtomicBool>,
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
        self.start(lid, Spec::Function(spec)).await
    }

    /// Starts a resource with logical id `lid`; returns its instances.
    pub async fn start_resource(
        &self,
        lid: Uuid,
        spec: proto::ResourceInstanceSpecification,
    ) -> Result<Vec<InstanceId>, OrcError> {
        self.start(lid, Spec::Resource(spec)).await
    }

    /// Places the component, sends the starts outside the task, and
    /// records what they returned. Runs to the end even when the caller
    /// goes away, so no component is left half started.
    async fn start(&self, lid: Uuid, spec: Spec) -> Result<Vec<InstanceId>, OrcError> {
        let this = self.clone();
        tokio::spawn(async move {
            let starts = this
                .ask(|tx| Command::PlanStart(lid, spec.clone(), tx))
                .await??;
            let results = futures::future::join_all(starts).await;
            this.ask(|tx| Command::FinishStart(lid, spec, results, tx))
                .await?
        })
        .await
        .map_err(|_| OrcError::Stopped)?
    }

    /// Stops every instance of a component.
    pub async fn stop(&self, lid: Uuid) -> Result<(), OrcError> {
        let stops = self.ask(|tx| Command::Stop(lid, tx)).await??;
        calls::run(stops).await
    }

    /// Sets a component's outputs (logical targets). With `record_only`,
    /// the mapping is recorded and its targets told their new sources, but
    /// the component does not send along it yet (a workflow's mappings are
    /// all recorded before any is used, so every reply path is open when the
    /// first event flows).
    pub async fn patch(
        &self,
        lid: Uuid,
        mapping: HashMap<String, Vec<Uuid>>,
        record_only: bool,
    ) -> Result<(), OrcError> {
        let patches = self
            .ask(|tx| Command::Patch(lid, mapping, record_only, tx))
            .await??;
        calls::run(patches).await
    }

    /// A node's registration or refresh. A refresh of a known node renews
    /// its lease at once; its other news (health, samples) follow through
    /// the task without the node waiting for it.
    /// `owner` is the name of the node identity that sent it.
    pub async fn update_node(
        &self,
        mut request: proto::UpdateNodeRequest,
        owner: &str,
    ) -> Result<(), OrcError> {
        let now = edgeless_api::now_secs();
        request.refresh_deadline = if self.lease_sec > 0 {
            now.saturating_add(self.lease_sec)
        } else {
            edgeless_api::capped_deadline(request.refresh_deadline, now)
        };
        let renewed = Uuid::parse_str(&request.node_id)
            .ok()
            .is_some_and(|node_id| {
                let mut leases = leases(&self.leases);
                match leases.get_mut(&node_id) {
                    Some(lease) if lease.held_by(&request, owner) => {
                        lease.deadline = request.refresh_deadline;
                        true
                    }
                    _ => false,
                }
            });
        if renewed {
            if request.failed_instances.is_empty() && request.synced_states.is_empty() {
                // Dropped when the task is swamped: the next refresh carries news again.
                let _ = self.commands.try_send(Command::Refresh(request));
            } else {
                // Failures must not be lost: wait for room.
                self.commands
                    .send(Command::Refresh(request))
                    .await
                    .map_err(|_| OrcError::Stopped)?;
            }
            return Ok(());
        }
        self.join(request, owner.to_string()).await
    }

    /// A registration: the node is reset and learns its peers outside the
    /// task (a silent node holds up only its own registration), then takes
    /// instances.
    async fn join(&self, request: proto::UpdateNodeRequest, owner: String) -> Result<(), OrcError> {
        let this = self.clone();
        tokio::spawn(async move {
            let admitted = this
                .ask(|tx| Command::Admit(request.clone(), owner.clone(), tx))
                .await??;
            let Some((node_id, node)) = admitted else {
                return Ok(());
            };
            calls::reset(node_id, &node).await?;
            let peers = this
                .ask(|tx| Command::Join(Box::new((request, node)), owner, tx))
                .await??;
            calls::run(peers).await?;
            this.commands
                .send(Command::Joined(node_id))
                .await
                .map_err(|_| OrcError::Stopped)
        })
        .await
        .map_err(|_| OrcError::Stopped)?
    }

    /// The domain's aggregated capabilities (as of the last request the
    /// orchestrator handled; never waits for it).
    pub fn capabilities(&self) -> proto::DomainCapabilities {
        self.capabilities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The nodes and components of the domain.
    pub async fn view(&self) -> Result<proto::DomainView, OrcError> {
        self.ask(Command::View).await
    }

    /// The log clients of the registered nodes, by node id.
    pub async fn log_clients(&self) -> Result<Vec<(Uuid, crate::registry::LogsClient)>, OrcError> {
        self.ask(Command::LogClients).await
    }

    /// Moves a component's instance to the first eligible node of `nodes`.
    pub async fn migrate(&self, lid: Uuid, nodes: Vec<Uuid>) -> Result<(), OrcError> {
        let this = self.clone();
        tokio::spawn(async move {
            let (spec, start) = this
                .ask(|tx| Command::PlanMigrate(lid, nodes, tx))
                .await??;
            let started = start.await;
            let rest = this
                .ask(|tx| Command::FinishMigrate(lid, spec, started, tx))
                .await??;
            calls::run(rest).await
        })
        .await
        .map_err(|_| OrcError::Stopped)?
    }

    /// Cordons, uncordons or drains `node_id`; a drain returns once the
    /// node's instances are stopped (they are re-created elsewhere).
    pub async fn set_node_state(&self, node_id: Uuid, action: NodeAction) -> Result<(), OrcError> {
        let stops = self
            .ask(|tx| Command::NodeState(node_id, action, tx))
            .await??;
        calls::run(stops).await
    }

    /// The function execution times received since the last call, by
    /// physical function id.
    pub async fn take_samples(&self) -> Result<HashMap<String, Vec<f64>>, OrcError> {
        self.ask(Command::TakeSamples).await
    }

    /// Replaces the components of other domains that a workflow's
    /// components here exchange events with.
    pub async fn set_remotes(&self, remotes: proto::RemoteComponents) -> Result<(), OrcError> {
        let plan = self.ask(|tx| Command::SetRemotes(remotes, tx)).await??;
        calls::run(plan).await
    }

    /// Stops component `lid`, which moves to another domain, and returns
    /// its last synced state once the nodes that ran it have reported it
    /// (they do with their next refresh).
    pub async fn hand_over(&self, lid: Uuid) -> Result<Option<Vec<u8>>, OrcError> {
        let stops = self.ask(|tx| Command::HandOver(lid, tx)).await??;
        calls::run(stops).await?;
        loop {
            if let Some(state) = self.ask(|tx| Command::HandedOver(lid, tx)).await? {
                return Ok(state);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Whether the domain's balancer answered the last peer update.
    pub fn balancer_healthy(&self) -> bool {
        self.balancer_healthy
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops every component.
    pub async fn reset(&self) -> Result<(), OrcError> {
        let stops = self.ask(Command::Reset).await?;
        calls::run(stops).await
    }

    /// What the orchestrator recorded.
    pub fn events(&self) -> &edgeless_api::feed::EventJournal {
        &self.events
    }

    /// Checks node leases now.
    pub async fn tick(&self) {
        let _ = self.commands.send(Command::Tick).await;
    }
}
