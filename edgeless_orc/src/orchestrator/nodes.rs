//! Nodes: registration, leases, and repair after node loss.

use edgeless_api::proto;
use edgeless_api::{InstanceId, parse_uuid};
use uuid::Uuid;

use super::calls::{self, Plan};
use super::{OrcError, Orchestrator, Spec};
use crate::registry::Node;

/// Failures further apart than this are not counted together.
const FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(300);

/// The most samples kept per instance until the proxy takes them.
const MAX_SAMPLES: usize = 1000;

/// The most nodes of one domain.
pub const MAX_NODES: usize = 10_000;

/// How long a failure waits for its instance's start to be recorded.
const EARLY_FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(60);
/// The most failures that wait so.
const MAX_EARLY_FAILURES: usize = 1024;

/// The most per-function event counts kept of one node's report.
const MAX_FUNCTION_COUNTS: usize = 10_000;

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
        self.reported.insert(node_id, std::time::Instant::now());
        for failure in std::mem::take(&mut request.failed_instances) {
            self.instance_failed(node_id, failure);
        }
        let mut saved = Vec::new();
        for synced in std::mem::take(&mut request.synced_states) {
            // Only states of components that still exist, sent by a node
            // that runs one of their instances, are kept: a node cannot
            // write another node's states.
            // A drained node still reports the last states of the
            // instances it handed over.
            let runs_here = Uuid::parse_str(&synced.state_id).is_ok_and(|lid| {
                self.drained
                    .get(&(node_id, lid))
                    .is_some_and(|until| *until > std::time::Instant::now())
                    || self
                        .components
                        .get(&lid)
                        .is_some_and(|c| c.instances.iter().any(|i| i.node_id == node_id))
            });
            if runs_here {
                saved.push((synced.state_id.clone(), synced.state.clone()));
                self.states.insert(synced.state_id, synced.state);
            }
        }
        super::persistence::save_states(&self.store, saved);
        if let Some(node) = self.nodes.get_mut(&node_id) {
            node.capabilities = request.capabilities.unwrap_or_default();
            node.providers = request.resource_providers;
            node.health = request.health_status.unwrap_or_default();
            // One count per running function at most.
            node.health.function_events.truncate(MAX_FUNCTION_COUNTS);
        }
    }

    /// Failures that arrived before their instance's start was recorded,
    /// tried again now; those still unmatched after [`EARLY_FAILURE_MEMORY`]
    /// are dropped.
    pub(super) fn apply_early_failures(&mut self) {
        for (node_id, failure, at) in std::mem::take(&mut self.early_failures) {
            if at.elapsed() < EARLY_FAILURE_MEMORY {
                self.instance_failed_since(node_id, failure, at);
            }
        }
    }

    /// An instance ended on its own: forget it and schedule its restart with
    /// back-off, or give up after `max_restarts`.
    fn instance_failed(&mut self, node_id: Uuid, failure: proto::InstanceFailure) {
        self.instance_failed_since(node_id, failure, std::time::Instant::now());
    }

    /// [`Self::instance_failed`] for a failure reported at `at`.
    fn instance_failed_since(
        &mut self,
        node_id: Uuid,
        failure: proto::InstanceFailure,
        at: std::time::Instant,
    ) {
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
            self.metrics.instance_failures.inc();
            let now = at;
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
            let (kind, message) = if failures.count > max_restarts {
                failures.gave_up = true;
                component.desired = component.instances.len();
                tracing::error!(component = %lid, reason = %failure.reason, restarts = max_restarts, "instance keeps failing; giving up");
                let message = format!("gave up after {max_restarts} restarts: {}", failure.reason);
                ("instance-gave-up", message)
            } else {
                let delay = std::time::Duration::from_secs(1 << (failures.count - 1).min(5));
                failures.retry_at = Some(now + delay);
                tracing::warn!(component = %lid, reason = %failure.reason, ?delay, attempt = failures.count, "instance failed; restarting after back-off");
                let message = format!(
                    "{} (restart {} in {delay:?})",
                    failure.reason, failures.count
                );
                let label = crate::metrics::FunctionLabel {
                    workflow: component.spec.workflow_id().to_string(),
                    function: component.spec.name(*lid),
                };
                self.metrics.restarts.get_or_create(&label).inc();
                ("instance-failed", message)
            };
            let (lid, spec) = (*lid, component.spec.clone());
            self.record(kind, Some((lid, &spec)), Some(node_id), message);
            return;
        }
        // No component has the instance yet: its start may still be on its
        // way back from the node.
        let starting = self
            .components
            .values()
            .any(|c| c.starting.contains(&node_id));
        if starting && self.early_failures.len() < MAX_EARLY_FAILURES {
            self.early_failures.push((node_id, failure, at));
        }
    }

    /// A registration of a node that is new, or known under another nonce
    /// (it restarted): checks who sent it and returns the node to reset.
    /// A registration under the known nonce is a refresh: `None`.
    pub(super) fn admit(
        &mut self,
        request: proto::UpdateNodeRequest,
        owner: &str,
    ) -> Result<Option<(Uuid, Node)>, OrcError> {
        let node_id = parse_uuid("node_id", &request.node_id)
            .map_err(|e| OrcError::Invalid(e.to_string()))?;
        super::check_owner(
            &super::leases(&self.leases),
            node_id,
            owner,
            &request.link_token,
        )?;
        if !self.nodes.contains_key(&node_id) && self.nodes.len() >= MAX_NODES {
            return Err(OrcError::Refused(format!(
                "the domain has {MAX_NODES} nodes, its maximum"
            )));
        }
        let same_process = super::leases(&self.leases)
            .get(&node_id)
            .is_some_and(|l| l.held_by(&request, owner));
        if self.nodes.contains_key(&node_id) {
            if same_process {
                super::leases(&self.leases)
                    .entry(node_id)
                    .and_modify(|l| l.deadline = request.refresh_deadline);
                self.absorb(request);
                return Ok(None);
            }
            tracing::info!(node = %node_id, "node restarted");
            self.record("node-restarted", None, Some(node_id), String::new());
            self.node_lost(node_id);
        }
        let node = Node::from_registration(&request).map_err(OrcError::Invalid)?;
        Ok(Some((node_id, node)))
    }

    /// Adds a node that was reset; returns the peer updates that tell it
    /// about other domains' nodes (it learns this domain's nodes as patches
    /// need them). It takes no instances until [`Orchestrator::joined`].
    pub(super) fn join(
        &mut self,
        request: proto::UpdateNodeRequest,
        node: Node,
        owner: String,
    ) -> Result<Plan, OrcError> {
        let node_id = parse_uuid("node_id", &request.node_id)
            .map_err(|e| OrcError::Invalid(e.to_string()))?;
        // Checked again: another registration may have come in meanwhile.
        super::check_owner(
            &super::leases(&self.leases),
            node_id,
            &owner,
            &request.link_token,
        )?;
        if self.nodes.contains_key(&node_id) {
            self.node_lost(node_id);
        }
        let peers = self.remote_peers_for(node_id, &node);
        tracing::info!(node = %node_id, agent = %node.agent_url, "node joined the domain");
        self.record("node-joined", None, Some(node_id), node.agent_url.clone());
        self.nodes.insert(node_id, node);
        super::leases(&self.leases).insert(
            node_id,
            super::Lease {
                nonce: request.nonce,
                deadline: request.refresh_deadline,
                owner,
                link: edgeless_api::auth::hash_token(&request.link_token),
            },
        );
        Ok(vec![peers])
    }

    /// Cordons, uncordons or drains a node (see [`super::NodeAction`]).
    pub(super) fn set_node_state(
        &mut self,
        node_id: Uuid,
        action: super::NodeAction,
    ) -> Result<Plan, OrcError> {
        if !self.nodes.contains_key(&node_id) {
            return Err(OrcError::Invalid(format!(
                "no node {node_id} in this domain"
            )));
        }
        let kind = match action {
            super::NodeAction::Uncordon => {
                self.cordoned.remove(&node_id);
                super::persistence::save_cordon(&self.store, node_id, false);
                self.record("node-uncordoned", None, Some(node_id), String::new());
                self.recreate_missing();
                return Ok(Plan::new());
            }
            super::NodeAction::Cordon => "node-cordoned",
            super::NodeAction::Drain => "node-drained",
        };
        self.cordoned.insert(node_id);
        super::persistence::save_cordon(&self.store, node_id, true);
        let mut stops = Vec::new();
        let now = std::time::Instant::now();
        let hand_over = std::time::Duration::from_secs(
            self.config.general.subscription_refresh_interval_sec.max(1) + 1,
        );
        self.drained.retain(|_, until| *until > now);
        if action == super::NodeAction::Drain {
            let lids: Vec<Uuid> = self.components.keys().copied().collect();
            for lid in lids {
                let Some(component) = self.components.get_mut(&lid) else {
                    continue;
                };
                let (gone, kept): (Vec<InstanceId>, Vec<InstanceId>) = component
                    .instances
                    .iter()
                    .partition(|i| i.node_id == node_id);
                if gone.is_empty() {
                    continue;
                }
                component.instances = kept;
                // Re-created once the node has reported the instances'
                // last synced states (it does with its next refresh).
                component.failures.retry_at = Some(now + hand_over);
                let spec = component.spec.clone();
                self.drained.insert((node_id, lid), now + hand_over * 2);
                stops.extend(gone.into_iter().filter_map(|i| self.stop_call(&spec, i)));
            }
        }
        let message = format!("{} instances to move", stops.len());
        self.record(kind, None, Some(node_id), message);
        // The stopped instances come back on other nodes.
        self.recreate_missing();
        Ok(vec![stops])
    }

    /// A joined node knows the other domains' nodes: it may take instances.
    pub(super) fn joined(&mut self, node_id: Uuid) {
        if let Some(node) = self.nodes.get_mut(&node_id) {
            node.ready = true;
            self.recreate_missing();
        }
    }

    pub(super) fn check_leases(&mut self) {
        let now = edgeless_api::now_secs();
        let expired: Vec<Uuid> = super::leases(&self.leases)
            .iter()
            .filter(|(_, lease)| lease.deadline < now)
            .map(|(id, _)| *id)
            .collect();
        for node_id in expired {
            tracing::warn!(node = %node_id, "node lease expired");
            let message = "its lease expired (no refresh in time)".to_string();
            self.record("node-lost", None, Some(node_id), message);
            self.metrics.lease_expiries.inc();
            self.node_lost(node_id);
        }
        self.recreate_missing();
    }

    /// Forgets a node and the instances it ran; the other nodes are told.
    fn node_lost(&mut self, node_id: Uuid) {
        self.nodes.remove(&node_id);
        self.reported.remove(&node_id);
        super::leases(&self.leases).remove(&node_id);
        let mut removals = super::links(&self.links).forget(&self.nodes, node_id);
        removals.extend(self.balancer_forget(node_id));
        calls::spawn(vec![removals]);
        // Starts in flight to the node are left to fail (within their
        // deadline): their results clear `starting`.
        for component in self.components.values_mut() {
            component.instances.retain(|i| i.node_id != node_id);
        }
    }

    /// Starts instances, in the background, for every component that has
    /// fewer than it should and none being started; their results come
    /// back as [`super::Command::Recreated`].
    fn recreate_missing(&mut self) {
        let now = std::time::Instant::now();
        let missing: Vec<_> = self
            .components
            .iter()
            .filter(|(_, c)| {
                let waiting = c.failures.retry_at.is_some_and(|at| at > now);
                c.instances.len() < c.desired && c.starting.is_empty() && !waiting
            })
            .map(|(lid, c)| {
                let used: Vec<Uuid> = c.instances.iter().map(|i| i.node_id).collect();
                (*lid, c.spec.clone(), c.desired - c.instances.len(), used)
            })
            .collect();
        for (lid, spec, count, used) in missing {
            let starts = self.place_many(&spec, count, &used).and_then(|nodes| {
                let starts = nodes
                    .iter()
                    .map(|node| self.start_call(lid, &spec, *node))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((nodes, starts))
            });
            let (nodes, starts) = match starts {
                Ok(planned) => planned,
                Err(error) => {
                    tracing::error!(component = %lid, %error, "cannot re-create instance; will retry");
                    let error = error.to_string();
                    let known = self
                        .components
                        .get_mut(&lid)
                        .map(|c| std::mem::replace(&mut c.failures.placement_error, error.clone()));
                    if known.is_some_and(|known| known != error) {
                        self.record("placement-failed", Some((lid, &spec)), None, error);
                    }
                    continue;
                }
            };
            if let Some(component) = self.components.get_mut(&lid) {
                component.starting = nodes;
            }
            let commands = self.commands.clone();
            tokio::spawn(async move {
                let results = futures::future::join_all(starts).await;
                if let Some(commands) = commands.upgrade() {
                    let _ = commands
                        .send(super::Command::Recreated(lid, spec, results))
                        .await;
                }
            });
        }
    }

    /// Records instances a repair started and patches what they changed;
    /// instances no longer wanted are stopped.
    pub(super) fn recreated(
        &mut self,
        lid: Uuid,
        spec: &Spec,
        results: Vec<Result<InstanceId, OrcError>>,
    ) {
        let mut unwanted = Vec::new();
        let mut recreated = Vec::new();
        let mut added = false;
        let component = self.components.get_mut(&lid);
        let mut component = component.filter(|c| !c.starting.is_empty());
        if let Some(component) = component.as_mut() {
            component.starting.clear();
        }
        for result in results {
            match (result, component.as_mut()) {
                (Ok(instance), Some(c)) if c.instances.len() < c.desired => {
                    tracing::info!(component = %lid, %instance, "instance re-created");
                    c.instances.push(instance);
                    c.failures.placement_error.clear();
                    added = true;
                    recreated.push(instance);
                }
                (Ok(instance), _) => unwanted.push(instance),
                (Err(error), _) => {
                    tracing::error!(component = %lid, %error, "cannot re-create instance; will retry");
                }
            }
        }
        for instance in recreated {
            let message = format!(
                "class {}, instance {}",
                spec.describe(),
                instance.function_id
            );
            self.record(
                "instance-re-created",
                Some((lid, spec)),
                Some(instance.node_id),
                message,
            );
        }
        let stops = unwanted
            .into_iter()
            .filter_map(|instance| self.stop_call(spec, instance))
            .collect();
        calls::spawn(vec![stops]);
        if added {
            calls::spawn(self.repatch(&[lid]));
        }
    }
}
