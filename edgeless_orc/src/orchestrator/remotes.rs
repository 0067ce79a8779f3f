//! Components of this domain's workflows that run in other domains, and the
//! domain's ε-BAL.
//!
//! The controller tells the orchestrator, per workflow, which components of
//! other domains its components send to or take events from: their
//! instances, where their nodes are reached, and which local components
//! they send to. The orchestrator resolves output mappings to them as to
//! its own components, lets them through its instances' input checks, and
//! links its nodes to their nodes: directly, or through its balancer when
//! it has one (the balancer then holds the links to the remote nodes, and
//! to this domain's nodes for events coming the other way).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use edgeless_api::InstanceId;
use edgeless_api::proto::{self, node_management_client::NodeManagementClient};
use uuid::Uuid;

use super::calls::{self, Call, Plan};
use super::{OrcError, Orchestrator};

/// A component of another domain.
pub(super) struct Remote {
    /// The workflow both belong to.
    workflow_id: String,
    pub instances: Vec<InstanceId>,
    /// Where its instances' nodes are reached from here (their dataplane,
    /// or their domain's balancer).
    node_urls: HashMap<Uuid, String>,
    /// The local components it sends to.
    pub targets: Vec<Uuid>,
}

/// The most remote components one workflow may name.
const MAX_REMOTES: usize = 10_000;

/// How often the balancer is given its whole peer table again (it may have
/// restarted and lost it); also how often its health is checked.
pub(super) const BALANCER_RESYNC: std::time::Duration = std::time::Duration::from_secs(5);

/// The domain's balancer, as the orchestrator reaches it.
pub(super) struct BalancerLink {
    client: NodeManagementClient<edgeless_api::client::Channel>,
    /// Where this domain's nodes reach it.
    invocation_url: String,
    /// Whether it answered the last peer update.
    pub healthy: Arc<AtomicBool>,
    /// When its table was last sent whole.
    pub synced_at: Option<std::time::Instant>,
}

impl BalancerLink {
    /// The link of `config`, when the domain has a balancer.
    pub fn new(config: &crate::config::Balancer) -> Result<Option<Self>, String> {
        if !config.enabled() {
            return Ok(None);
        }
        if config.invocation_url.is_empty() {
            return Err("[balancer] agent_url is set but invocation_url is empty".into());
        }
        let channel = edgeless_api::client::channel(&config.agent_url)
            .map_err(|e| format!("[balancer] agent_url: {e}"))?;
        Ok(Some(Self {
            client: NodeManagementClient::new(channel),
            invocation_url: config.invocation_url.clone(),
            healthy: Arc::default(),
            synced_at: None,
        }))
    }

    /// Tells the balancer that `peer` is reached at `url` (empty: forget
    /// it), presenting `credential` there (empty: its own token).
    fn peer(&self, peer: Uuid, url: &str, credential: &str) -> Call<()> {
        let request = proto::UpdatePeersRequest {
            request_type: if url.is_empty() {
                proto::UpdatePeersRequestType::Del
            } else {
                proto::UpdatePeersRequestType::Add
            } as i32,
            node_id: peer.to_string(),
            invocation_url: url.to_string(),
            link_token: credential.to_string(),
        };
        let mut client = self.client.clone();
        let healthy = self.healthy.clone();
        Box::pin(async move {
            let sent =
                tokio::time::timeout(calls::CONTROL_DEADLINE, client.update_peers(request)).await;
            match sent {
                Ok(Ok(_)) => healthy.store(true, Ordering::Relaxed),
                Ok(Err(status)) => {
                    healthy.store(false, Ordering::Relaxed);
                    tracing::warn!(%peer, error = %status.message(), "balancer peer update failed");
                }
                Err(_) => {
                    healthy.store(false, Ordering::Relaxed);
                    tracing::warn!(%peer, "the balancer did not answer a peer update");
                }
            }
            Ok(())
        })
    }
}

/// The credential the balancer presents to `node` (none for a node that
/// handed out no link credential).
fn relay_credential(node: &crate::registry::Node) -> String {
    if node.link_token.is_empty() {
        return String::new();
    }
    edgeless_api::auth::relay_credential(&node.link_token)
}

impl Orchestrator {
    /// Where this domain's nodes send events for remote node `node`.
    fn local_route(&self, route: &str) -> String {
        match &self.balancer {
            Some(balancer) => balancer.invocation_url.clone(),
            None => route.to_string(),
        }
    }

    /// Every remote node with the URL it is reached at.
    fn remote_nodes(&self) -> HashMap<Uuid, String> {
        self.remotes
            .values()
            .flat_map(|r| r.node_urls.iter().map(|(n, u)| (*n, u.clone())))
            .filter(|(node, _)| !self.nodes.contains_key(node))
            .collect()
    }

    /// Replaces the remote components of one workflow; returns the peer
    /// updates, then the patches of the workflow's local components.
    pub(super) fn set_remotes(
        &mut self,
        request: proto::RemoteComponents,
    ) -> Result<Plan, OrcError> {
        if request.components.len() > MAX_REMOTES {
            return Err(OrcError::Invalid(format!(
                "{} remote components; at most {MAX_REMOTES}",
                request.components.len()
            )));
        }
        let parse = |field: &'static str, value: &str| {
            edgeless_api::parse_uuid(field, value).map_err(|e| OrcError::Invalid(e.to_string()))
        };
        let mut incoming = Vec::new();
        for component in request.components {
            let lid = parse("component_id", &component.component_id)?;
            if self.components.contains_key(&lid) {
                return Err(OrcError::Invalid(format!(
                    "component {lid} runs in this domain; it cannot also be remote"
                )));
            }
            let instances = component
                .instances
                .iter()
                .map(|i| InstanceId::try_from(i).map_err(|e| OrcError::Invalid(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let mut node_urls = HashMap::new();
            for (node, url) in component.node_urls {
                edgeless_api::client::channel(&url)
                    .map_err(|e| OrcError::Invalid(format!("node {node}: {e}")))?;
                node_urls.insert(parse("node_urls", &node)?, url);
            }
            let targets = component
                .targets
                .iter()
                .map(|t| parse("targets", t))
                .collect::<Result<Vec<_>, _>>()?;
            incoming.push((
                lid,
                Remote {
                    workflow_id: request.workflow_id.clone(),
                    instances,
                    node_urls,
                    targets,
                },
            ));
        }
        let before = self.remote_nodes();
        self.remotes
            .retain(|_, r| r.workflow_id != request.workflow_id);
        self.remotes.extend(incoming);
        let after = self.remote_nodes();
        let mut peers = Vec::new();
        for (node, url) in &after {
            if before.get(node) != Some(url) {
                peers.extend(self.route_calls(*node, url));
            }
        }
        for node in before.keys().filter(|n| !after.contains_key(n)) {
            peers.extend(self.route_calls(*node, ""));
        }
        let local: Vec<Uuid> = self
            .components
            .iter()
            .filter(|(_, c)| c.spec.workflow_id() == request.workflow_id)
            .map(|(lid, _)| *lid)
            .collect();
        let mut patches = Vec::new();
        for lid in local {
            patches.extend(self.inputs_patch(lid));
            // A component that has no mapping yet gets it from the
            // controller's patch (until then its sends wait).
            if self.components[&lid].mapping.is_empty() {
                continue;
            }
            match self.outputs_patch(lid, false) {
                Ok(calls) => patches.extend(calls),
                Err(error) => tracing::warn!(component = %lid, %error, "re-patch failed"),
            }
        }
        Ok(vec![peers, patches])
    }

    /// The updates that make every local node (and the balancer) reach
    /// remote node `node` at `route` (empty: forget it).
    fn route_calls(&self, node: Uuid, route: &str) -> Vec<Call<()>> {
        let local_url = if route.is_empty() {
            String::new()
        } else {
            self.local_route(route)
        };
        let mut calls: Vec<Call<()>> = self
            .nodes
            .iter()
            .map(|(id, n)| calls::peer(*id, n, node, &local_url))
            .collect();
        if let Some(balancer) = &self.balancer {
            calls.push(balancer.peer(node, route, ""));
        }
        calls
    }

    /// The updates that make a joining node reach every remote node, and
    /// the balancer reach the node.
    pub(super) fn remote_peers_for(
        &self,
        node_id: Uuid,
        node: &crate::registry::Node,
    ) -> Vec<Call<()>> {
        let mut calls: Vec<Call<()>> = self
            .remote_nodes()
            .iter()
            .map(|(remote, route)| calls::peer(node_id, node, *remote, &self.local_route(route)))
            .collect();
        if let Some(balancer) = &self.balancer {
            calls.push(balancer.peer(node_id, &node.invocation_url, &relay_credential(node)));
        }
        calls
    }

    /// Tells the balancer that `node_id` left the domain.
    pub(super) fn balancer_forget(&self, node_id: Uuid) -> Vec<Call<()>> {
        self.balancer
            .iter()
            .map(|b| b.peer(node_id, "", ""))
            .collect()
    }

    /// Gives the balancer its whole table again, every [`BALANCER_RESYNC`].
    pub(super) fn resync_balancer(&mut self) {
        let due = self
            .balancer
            .as_ref()
            .is_some_and(|b| b.synced_at.is_none_or(|t| t.elapsed() >= BALANCER_RESYNC));
        if !due {
            return;
        }
        let mut table: Vec<(Uuid, String, String)> = self
            .nodes
            .iter()
            .map(|(id, n)| (*id, n.invocation_url.clone(), relay_credential(n)))
            .collect();
        table.extend(
            self.remote_nodes()
                .into_iter()
                .map(|(id, url)| (id, url, String::new())),
        );
        let Some(balancer) = self.balancer.as_mut() else {
            return;
        };
        balancer.synced_at = Some(std::time::Instant::now());
        let calls = table
            .iter()
            .map(|(id, url, credential)| balancer.peer(*id, url, credential))
            .collect();
        calls::spawn(vec![calls]);
    }

    /// The instances of remote components that send to `lid`.
    pub(super) fn remote_inputs_of(
        &self,
        lid: Uuid,
    ) -> impl Iterator<Item = proto::InstanceId> + '_ {
        self.remotes
            .values()
            .filter(move |r| r.targets.contains(&lid))
            .flat_map(|r| r.instances.iter().map(|i| proto::InstanceId::from(*i)))
    }

    /// Forgets every remote component (the orchestrator was reset).
    pub(super) fn clear_remotes(&mut self) -> Vec<Call<()>> {
        let nodes: Vec<Uuid> = self.remote_nodes().into_keys().collect();
        self.remotes.clear();
        nodes
            .into_iter()
            .flat_map(|n| self.route_calls(n, ""))
            .collect()
    }
}

/// A component being handed over to another domain.
pub(super) struct HandingOver {
    nodes: Vec<Uuid>,
    stopped: std::time::Instant,
    until: std::time::Instant,
    state_key: String,
}

impl Orchestrator {
    /// Stops component `lid` (it moves to another domain) but keeps taking
    /// its nodes' state reports until they have all refreshed once.
    pub(super) fn hand_over(&mut self, lid: Uuid) -> Result<Plan, OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let state_key = match &component.spec {
            super::Spec::Function(request) if !request.state_id.is_empty() => {
                request.state_id.clone()
            }
            _ => lid.to_string(),
        };
        let nodes: Vec<Uuid> = component.instances.iter().map(|i| i.node_id).collect();
        let state = self.states.get(&state_key).cloned();
        let stops = self.stop(lid)?;
        let now = std::time::Instant::now();
        let until = now
            + std::time::Duration::from_secs(
                2 * self.config.general.subscription_refresh_interval_sec.max(1) + 2,
            );
        for node in &nodes {
            self.drained.insert((*node, lid), until);
        }
        if let Some(state) = state {
            self.states.insert(state_key.clone(), state);
        }
        self.handing_over.insert(
            lid,
            HandingOver {
                nodes,
                stopped: now,
                until,
                state_key,
            },
        );
        Ok(stops)
    }

    /// The handed-over state of `lid` once every node that ran it has
    /// refreshed since it stopped (or they are gone, or the wait is over);
    /// `None` while waiting.
    pub(super) fn handed_over(&mut self, lid: Uuid) -> Option<Option<Vec<u8>>> {
        let Some(handing) = self.handing_over.get(&lid) else {
            return Some(None);
        };
        let waiting = handing.nodes.iter().any(|node| {
            self.nodes.contains_key(node)
                && self
                    .reported
                    .get(node)
                    .is_none_or(|at| *at <= handing.stopped)
        });
        if waiting && std::time::Instant::now() < handing.until {
            return None;
        }
        let handing = self.handing_over.remove(&lid)?;
        Some(self.states.remove(&handing.state_key))
    }
}
