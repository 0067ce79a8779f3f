//! Nodes: registration, the peer mesh, leases, and repair after node loss.

use edgeless_api::parse_uuid;
use edgeless_api::proto::{self, UpdatePeersRequestType};
use uuid::Uuid;

use super::{OrcError, Orchestrator, node_error};
use crate::registry::Node;

/// Failures further apart than this are not counted together.
const FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(300);

/// The most samples kept per instance until the proxy takes them.
const MAX_SAMPLES: usize = 1000;

fn peers_request(
    kind: UpdatePeersRequestType,
    node_id: &Uuid,
    url: &str,
) -> proto::UpdatePeersRequest {
    proto::UpdatePeersRequest {
        request_type: kind as i32,
        node_id: node_id.to_string(),
        invocation_url: url.to_string(),
    }
}

/// The most nodes of one domain.
pub const MAX_NODES: usize = 10_000;

/// How long a joining node may take to answer the orchestrator.
const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Orchestrator {
    /// Takes in what a refresh reports besides the lease.
    pub(super) fn absorb(&mut self, mut request: proto::UpdateNodeRequest) {
        if let Some(samples) = request.performance_samples.take() {
            for entry in samples.function_execution_times {
                let list = self.samples.entry(entry.id).or_default();
                let room = MAX_SAMPLES.saturating_sub(list.len());
                list.extend(entry.samples.into_iter().take(room));
            }
        }
        let Ok(node_id) = Uuid::parse_str(&request.node_id) else {
            return;
        };
        for failure in std::mem::take(&mut request.failed_instances) {
            self.instance_failed(node_id, failure);
        }
        let mut saved = Vec::new();
        for synced in std::mem::take(&mut request.synced_states) {
            // Only states of components that still exist, sent by a node
            // that runs one of their instances, are kept: a node cannot
            // write another node's states.
            let runs_here = Uuid::parse_str(&synced.state_id).is_ok_and(|lid| {
                self.components
                    .get(&lid)
                    .is_some_and(|c| c.instances.iter().any(|i| i.node_id == node_id))
            });
            if runs_here {
                saved.push((synced.state_id.clone(), synced.state.clone()));
                self.states.insert(synced.state_id, synced.state);
            }
        }
        super::persistence::save_states(&self.store, &saved);
        if let Some(node) = self.nodes.get_mut(&node_id) {
            node.capabilities = request.capabilities.unwrap_or_default();
            node.providers = request.resource_providers;
            node.health = request.health_status.unwrap_or_default();
        }
    }

    /// An instance ended on its own: forget it and schedule its restart with
    /// back-off, or give up after `max_restarts`.
    fn instance_failed(&mut self, node_id: Uuid, failure: proto::InstanceFailure) {
        let Ok(function_id) = Uuid::parse_str(&failure.function_id) else {
            return;
        };
        let max_restarts = self.config.general.max_restarts;
        for (lid, component) in self.components.iter_mut() {
            let before = component.instances.len();
            component
                .instances
                .retain(|i| !(i.node_id == node_id && i.function_id == function_id));
            if component.instances.len() == before {
                continue;
            }
            let now = std::time::Instant::now();
            let failures = &mut component.failures;
            // A failure long after the previous one starts a new count.
            if failures
                .last_at
                .is_some_and(|at| now.duration_since(at) > FAILURE_MEMORY)
            {
                failures.count = 0;
            }
            failures.count += 1;
            failures.last_at = Some(now);
            failures.last_reason = failure.reason.clone();
            if failures.count > max_restarts {
                failures.gave_up = true;
                component.desired = component.instances.len();
                tracing::error!(component = %lid, reason = %failure.reason, restarts = max_restarts, "instance keeps failing; giving up");
            } else {
                let delay = std::time::Duration::from_secs(1 << (failures.count - 1).min(5));
                failures.retry_at = Some(now + delay);
                tracing::warn!(component = %lid, reason = %failure.reason, ?delay, attempt = failures.count, "instance failed; restarting after back-off");
            }
            return;
        }
    }

    /// A node that is new, or known under another nonce (it restarted).
    pub(super) async fn update_node(
        &mut self,
        request: proto::UpdateNodeRequest,
        owner: String,
    ) -> Result<(), OrcError> {
        let node_id = parse_uuid("node_id", &request.node_id)
            .map_err(|e| OrcError::Invalid(e.to_string()))?;
        super::check_owner(&super::leases(&self.leases), node_id, &owner)?;
        if !self.nodes.contains_key(&node_id) && self.nodes.len() >= MAX_NODES {
            return Err(OrcError::Refused(format!(
                "the domain has {MAX_NODES} nodes, its maximum"
            )));
        }
        let same_process =
            super::leases(&self.leases).get(&node_id).map(|l| l.nonce) == Some(request.nonce);
        if self.nodes.contains_key(&node_id) {
            if same_process {
                super::leases(&self.leases)
                    .entry(node_id)
                    .and_modify(|l| l.deadline = request.refresh_deadline);
                self.absorb(request);
                return Ok(());
            }
            tracing::info!(node = %node_id, "node restarted");
            self.node_lost(node_id).await;
        }
        let mut node = Node::from_registration(&request).map_err(OrcError::Invalid)?;
        // A node we do not know may still run instances of an earlier
        // orchestrator: start it clean.
        // A new node answers at once or is not taken: a silent one must not
        // hold up the orchestrator.
        tokio::time::timeout(JOIN_TIMEOUT, node.management.reset(proto::Empty {}))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer to reset")))
            .map_err(node_error(node_id))?;
        for (peer_id, peer) in self.nodes.iter_mut() {
            let add = peers_request(UpdatePeersRequestType::Add, &node_id, &node.invocation_url);
            if let Err(status) = peer.management.update_peers(add).await {
                tracing::warn!(node = %peer_id, error = %status.message(), "peer update failed");
            }
            let add = peers_request(UpdatePeersRequestType::Add, peer_id, &peer.invocation_url);
            tokio::time::timeout(JOIN_TIMEOUT, node.management.update_peers(add))
                .await
                .unwrap_or_else(|_| {
                    Err(tonic::Status::deadline_exceeded(
                        "no answer to a peer update",
                    ))
                })
                .map_err(node_error(node_id))?;
        }
        tracing::info!(node = %node_id, agent = %node.agent_url, "node joined the domain");
        self.nodes.insert(node_id, node);
        super::leases(&self.leases).insert(
            node_id,
            super::Lease {
                nonce: request.nonce,
                deadline: request.refresh_deadline,
                owner,
            },
        );
        self.recreate_missing().await;
        Ok(())
    }

    pub(super) async fn check_leases(&mut self) {
        let now = edgeless_api::now_secs();
        let expired: Vec<Uuid> = super::leases(&self.leases)
            .iter()
            .filter(|(_, lease)| lease.deadline < now)
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
        super::leases(&self.leases).remove(&node_id);
        for (peer_id, peer) in self.nodes.iter_mut() {
            let request = peers_request(UpdatePeersRequestType::Del, &node_id, "");
            if let Err(status) = peer.management.update_peers(request).await {
                tracing::warn!(node = %peer_id, error = %status.message(), "peer removal failed");
            }
        }
        for component in self.components.values_mut() {
            component.instances.retain(|i| i.node_id != node_id);
        }
    }

    /// Starts instances for every component that has fewer than it should,
    /// then patches every component whose targets changed.
    async fn recreate_missing(&mut self) {
        let missing: Vec<_> = self
            .components
            .iter()
            .filter(|(_, c)| {
                let waiting = c
                    .failures
                    .retry_at
                    .is_some_and(|at| at > std::time::Instant::now());
                c.instances.len() < c.desired && !waiting
            })
            .map(|(lid, c)| {
                let used: Vec<Uuid> = c.instances.iter().map(|i| i.node_id).collect();
                (*lid, c.spec.clone(), c.desired - c.instances.len(), used)
            })
            .collect();
        let mut recreated = Vec::new();
        for (lid, spec, count, mut used) in missing {
            for _ in 0..count {
                match self.start_instance(lid, &spec, &used).await {
                    Ok(instance) => {
                        tracing::info!(component = %lid, %instance, "instance re-created");
                        used.push(instance.node_id);
                        if let Some(component) = self.components.get_mut(&lid) {
                            component.instances.push(instance);
                        }
                        recreated.push(lid);
                    }
                    Err(error) => {
                        tracing::error!(component = %lid, %error, "cannot re-create instance; will retry");
                        break;
                    }
                }
            }
        }
        self.repatch(&recreated).await;
    }
}
